"""Who is on a websocket: the browser's session, or a user API token for scripts.

A token comes as `Authorization: Bearer <token>` (scripts) or `?token=<token>` (where a
client cannot set headers). Edge device keys are not accepted here: devices only post.
The consumer decides what an anonymous scope gets (it closes with a 44xx code).

A connection without a token is one the browser's cookie may authenticate, and a page of any
site can make a browser open it: its `Origin` must be one the site is served from, compared
by scheme, host and port as Django's CSRF check compares a form post's (the connection's own
Host with its scheme, or one of CSRF_TRUSTED_ORIGINS); otherwise the handshake is refused.
A token is no such ambient credential (a page can send only one it already holds, and the
cookie is then ignored), so a token connection's Origin is not checked: scripts send none.

The session is only read here (a websocket never sets a cookie), so channels'
SessionMiddleware, which checks the session for a save on every frame sent (about 4 us of
each of the live stream's frames), is replaced by a step that opens it and sends nothing.
"""

import io
from importlib import import_module
from urllib.parse import parse_qs, urlsplit

from channels.auth import AuthMiddleware
from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier
from channels.sessions import CookieMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.utils.http import is_same_domain

from cameras.selectors import user_for_token


def bearer_token(scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return (query.get("token") or [""])[0].strip()


def site_origin_allowed(scope) -> bool:
    """Whether the connection's Origin is one the site is served from: its own Host (as
    Django's get_host() validates it against ALLOWED_HOSTS) with its scheme (as
    SECURE_PROXY_SSL_HEADER or the server says), or one of CSRF_TRUSTED_ORIGINS."""
    origins = [value for name, value in scope.get("headers", ()) if name == b"origin"]
    if len(origins) != 1:
        return False
    origin = origins[0].decode("latin-1")
    # Django's request from the handshake, so the host and scheme are decided as for HTTP.
    secure = scope.get("scheme") in ("https", "wss")
    request = ASGIRequest(
        {**scope, "method": "GET", "scheme": "https" if secure else "http"}, io.BytesIO()
    )
    try:
        if origin == f"{request.scheme}://{request.get_host()}":
            return True
    except DisallowedHost:
        pass
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    parsed = urlsplit(origin)
    return any(
        trusted.scheme == parsed.scheme and is_same_domain(parsed.netloc, trusted.netloc[1:])
        for trusted in map(urlsplit, settings.CSRF_TRUSTED_ORIGINS)
        if trusted.netloc.startswith("*")
    )


class _SessionOriginCheck:
    """Refuses the handshake of a connection without a token whose Origin is not the site's
    (see the module's docstring)."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        if not bearer_token(scope) and not site_origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.inner(scope, receive, send)


class _TokenAuthMiddleware:
    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        user = scope.get("user")
        token = bearer_token(scope)
        if token:
            # A token that is sent must be good, even beside a session: a revoked one is refused.
            found = await database_sync_to_async(user_for_token)(token=token)
            scope = {**scope, "user": found or AnonymousUser(), "token_refused": found is None}
        elif user is None:
            scope = {**scope, "user": AnonymousUser()}
        return await self.inner(scope, receive, send)


class _SessionReadMiddleware:
    """scope["session"]: the session of the connection's cookie, as Django's SessionStore
    (read when the user is looked up; never saved)."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        session_store = import_module(settings.SESSION_ENGINE).SessionStore
        session = session_store(scope["cookies"].get(settings.SESSION_COOKIE_NAME))
        return await self.inner({**scope, "session": session}, receive, send)


def WebsocketAuthMiddleware(inner):
    """The Origin of a connection without a token, then session auth (cookies), then a Bearer
    token if one is sent."""
    return _SessionOriginCheck(
        CookieMiddleware(_SessionReadMiddleware(AuthMiddleware(_TokenAuthMiddleware(inner))))
    )
