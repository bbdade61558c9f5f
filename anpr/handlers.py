"""The WSGI application gunicorn serves: device requests take a shorter middleware stack than
browsers', through the same Django request cycle.

Cameras posting plate reads are the hottest path and are not browsers: sessions, CSRF,
messages, CORS, static files, gzip, framing headers and django-prometheus's per-request
metrics do nothing for them and cost each request a noticeable share of its CPU. Requests
under DEVICE_PATH_PREFIXES are served by a DeviceWSGIHandler, Django's own WSGIHandler built
from DEVICE_MIDDLEWARE (request id and log line, request count, the HTTPS redirect and the
host check); everything else by the one built from MIDDLEWARE. Both run Django's whole
request cycle (request_started/request_finished, URL resolving, error answers): a middleware
added to DEVICE_MIDDLEWARE runs for every device request
(anpr/tests/test_device_lifecycle.py holds that).
Under ASGI (the embedded server, daphne) every request takes the full stack.
"""

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

from .body_limit import body_declared_too_large, wsgi_body_refused


class DeviceWSGIHandler(WSGIHandler):
    """Django's WSGIHandler with DEVICE_MIDDLEWARE as its middleware."""

    def load_middleware(self, is_async=False):
        # Django builds the chain from settings.MIDDLEWARE and takes no other list: the device
        # list stands in for it while this handler is built (once, when anpr.wsgi is imported,
        # before any request is served), and nothing else reads it meanwhile.
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
