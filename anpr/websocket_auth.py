"""Who is on a websocket: the browser's session, or a user API token for scripts.

A token comes as `Authorization: Bearer <token>` (scripts) or `?token=<token>` (where a
client cannot set headers). Edge device keys are not accepted here: devices only post.
The consumer decides what an anonymous scope gets (it closes with a 44xx code).

The session is only read here (a websocket never sets a cookie), so channels'
SessionMiddleware, which checks the session for a save on every frame sent (about 4 us of
each of the live stream's frames), is replaced by a step that opens it and sends nothing.
"""

from importlib import import_module
from urllib.parse import parse_qs

from channels.auth import AuthMiddleware
from channels.db import database_sync_to_async
from channels.sessions import CookieMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from cameras.selectors import user_for_token


def _bearer_token(scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return (query.get("token") or [""])[0].strip()


class _TokenAuthMiddleware:
    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        user = scope.get("user")
        token = _bearer_token(scope)
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
    """Session auth (cookies) first, then a Bearer token if one is sent."""
    return CookieMiddleware(_SessionReadMiddleware(AuthMiddleware(_TokenAuthMiddleware(inner))))
