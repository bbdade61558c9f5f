"""The WSGI application gunicorn serves: device requests get a shorter middleware stack.

Cameras posting plate reads are the hottest path and are not browsers: sessions, CSRF,
messages, CORS, static files, gzip and framing headers do nothing for them and cost each
request about a third of a millisecond. Requests under DEVICE_PATH_PREFIXES go through
DEVICE_MIDDLEWARE (request id and log line, Prometheus, the HTTPS redirect and the host
check); everything else through MIDDLEWARE.
Under ASGI (the embedded server, daphne) every request takes the full stack.
"""

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler


class DeviceWSGIHandler(WSGIHandler):
    """A WSGIHandler built from DEVICE_MIDDLEWARE instead of MIDDLEWARE."""

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
