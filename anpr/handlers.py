"""The WSGI application gunicorn serves: device requests take a shorter way than browsers'.

Cameras posting plate reads are the hottest path and are not browsers: sessions, CSRF,
messages, CORS, static files, gzip and framing headers do nothing for them and cost each
request about a third of a millisecond. Requests under DEVICE_PATH_PREFIXES go through
DEVICE_MIDDLEWARE (request id and log line, request count, the HTTPS redirect and the host
check); everything else through MIDDLEWARE. The hottest of them, a device's JSON POST to the
native ingest URL, is answered before Django's request cycle starts
(DeviceWSGIHandler._ingest_directly).
Under ASGI (the embedded server, daphne) every request takes the full stack.
"""

from functools import cache

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler, get_script_name
from django.db import close_old_connections
from django.http import HttpResponse
from django.urls import get_script_prefix, resolve, reverse, set_script_prefix
from django.utils.log import log_response

from .body_limit import body_declared_too_large, wsgi_body_refused
from .middleware import device_request_counted, request_logged


@cache
def _ingest_route():
    """The native ingest URL's path (as PATH_INFO has it: without a script prefix) and its
    resolver match (looked up once)."""
    path = "/" + reverse("event-ingest").removeprefix(get_script_prefix())
    return path, resolve(path)


def _json_ingest_answer(request) -> HttpResponse | None:
    from events.api.ingest import json_ingest_directly

    response = json_ingest_directly(request, "")
    if response is not None and response.status_code >= 400:
        # As BaseHandler.get_response logs them (a 500 from an exception is logged already),
        # here under the request's id.
        log_response(
            "%s: %s", response.reason_phrase, request.path, response=response, request=request
        )
    return response


class DeviceWSGIHandler(WSGIHandler):
    """A WSGIHandler built from DEVICE_MIDDLEWARE instead of MIDDLEWARE, which answers a
    device's JSON POST to the native ingest URL itself (_ingest_directly)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # An exception is answered as Django answers it: logged, then handler500's answer.
        self._json_ingest_answer = convert_exception_to_response(_json_ingest_answer)

    def __call__(self, environ, start_response):
        if (
            environ.get("REQUEST_METHOD") == "POST"
            and environ.get("PATH_INFO") == _ingest_route()[0]
        ):
            response = self._ingest_directly(environ)
            if response is not None:
                start_response(
                    f"{response.status_code} {response.reason_phrase}", [*response.items()]
                )
                return [response.content]
        return super().__call__(environ, start_response)

    def _ingest_directly(self, environ) -> HttpResponse | None:
        """The answer of the ingest view's JSON path (events.api.ingest.json_ingest_directly),
        with what the device stack adds that matters for it: the request id and log line, the
        request count, Content-Length; a request that stack would refuse or redirect (a host
        outside ALLOWED_HOSTS, plain HTTP under SECURE_SSL_REDIRECT) is left to it, as is
        everything with DEBUG on. None: not answered here, nothing done; the full cycle serves it.

        Django's request_started/request_finished signals are not sent: their receivers
        (Django's own) reset query logs, caches and URL settings this request does not use,
        for a tenth of its CPU. Their one effect that matters, closing a database
        connection that failed or is too old, is done here. The answers carry no browser
        headers (SecurityMiddleware's HSTS, nosniff, Referrer-Policy): devices are not
        browsers; a device's 401 or multipart upload, served by the full stack, has them."""
        request = self.request_class(environ)
        try:
            request.get_host()  # validated against ALLOWED_HOSTS
        except DisallowedHost:
            return None
        if settings.DEBUG or (settings.SECURE_SSL_REDIRECT and not request.is_secure()):
            return None
        set_script_prefix(get_script_name(environ))
        request.resolver_match = _ingest_route()[1]  # as resolving sets it (logs, reports)
        try:
            response = request_logged(request, self._json_ingest_answer)
        finally:
            close_old_connections()
        if response is None:
            return None
        response["Content-Length"] = str(len(response.content))
        return device_request_counted(response)

    def load_middleware(self, is_async=False):
        # BaseHandler reads settings.MIDDLEWARE; swap it for the build (once, at start-up,
        # before any request is served).
        web_middleware = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.DEVICE_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = web_middleware


def application_with_device_stack(web_application):
    """`web_application`, with device paths routed to a DeviceWSGIHandler, and a body whose
    declared length is over EVENT_UPLOAD_MAX_BYTES answered 413 unread (anpr.body_limit)."""
    device_application = DeviceWSGIHandler()
    prefixes = tuple(settings.DEVICE_PATH_PREFIXES)

    def application(environ, start_response):
        if body_declared_too_large(environ.get("CONTENT_LENGTH")):
            return wsgi_body_refused(start_response)
        if environ.get("PATH_INFO", "").startswith(prefixes):
            return device_application(environ, start_response)
        return web_application(environ, start_response)

    return application
