"""What the ASGI server hands the application, put right before routing.

The script prefix: daphne turns a request's `Daphne-Root-Path` header into the scope's
`root_path`, which Django and channels strip from the path, so a client could send
`GET /ws/metrics` with `Daphne-Root-Path: /ws` and be served `/metrics` through the proxy's
`/ws/` location (around its block on `/metrics`). The prefix is ours to configure
(FORCE_SCRIPT_NAME), never the client's: the scope's root_path is reset to it.
"""

from django.conf import settings


def root_path_configured(application):
    """`application` with every HTTP and websocket scope's root_path set to
    FORCE_SCRIPT_NAME (or none), whatever the server or a client's header said."""

    async def configured(scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "root_path": settings.FORCE_SCRIPT_NAME or ""}
        return await application(scope, receive, send)

    return configured
