"""The WSGI application gunicorn serves: device requests get a shorter middleware stack.

Cameras posting plate reads are the hottest path and are not browsers: sessions, CSRF,
messages, CORS, static files, gzip and framing headers do nothing for them and cost each
request about a third of a millisecond. Requests under DEVICE_PATH_PREFIXES go through
DEVICE_MIDDLEWARE (request id and log line, Prometheus, the HTTPS redirect and the host
check); everything else through MIDDLEWARE.
Under ASGI (the embedded server, daphne) every request takes the full stack.
"""

from functools import cache

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.urls import resolve, reverse


@cache
def _ingest_route():
    """The native ingest URL's path and its resolver match (looked up once)."""
    path = reverse("event-ingest")
    return path, resolve(path)


class DeviceWSGIHandler(WSGIHandler):
    """A WSGIHandler built from DEVICE_MIDDLEWARE instead of MIDDLEWARE, which hands a POST to
    the native ingest URL straight to the ingest view's direct path (no URL patterns tried,
    no view wrappers); what that path does not answer is resolved and served as usual."""

    def _get_response(self, request):
        path, match = _ingest_route()
        if request.path_info == path and request.method == "POST":
            from events.api.ingest import one_event_directly

            response = one_event_directly(request, "")
            if response is not None:
                request.resolver_match = match  # as resolving sets it (logs, error reports)
                if callable(getattr(response, "render", None)):
                    response = response.render()
                return response
        return super()._get_response(request)

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
    """`web_application`, with device paths routed to a DeviceWSGIHandler."""
    device_application = DeviceWSGIHandler()
    prefixes = tuple(settings.DEVICE_PATH_PREFIXES)

    def application(environ, start_response):
        if environ.get("PATH_INFO", "").startswith(prefixes):
            return device_application(environ, start_response)
        return web_application(environ, start_response)

    return application
