"""The database out of reach: every entry point answers 503 with Retry-After, and the log
says so once per outage, not once per request.

A device that gets a 500 may drop its read; a 503 with Retry-After tells it to keep the read
and come back. During an outage thousands of requests fail the same way, so the first logs a
warning, and the first new connection after it an info line; the failures in between are in
the request log only, without a traceback.

Nothing here runs while the database answers: the answer is made where exceptions are already
handled (core.api.exception_handler for DRF views; Django's handler500, core.errors.server_error,
for everything else over HTTP, the direct device path included; websocket_outage_closed for
websockets), and the end of an outage is noticed by a receiver of connection_created that is
connected only while one lasts.
"""

import logging
import threading
import time

import psycopg
from django.db import InterfaceError, OperationalError
from django.db.backends.signals import connection_created
from django.http import JsonResponse
from psycopg_pool import PoolTimeout

logger = logging.getLogger("anpr.outage")

#: Seconds a client is asked to wait before trying again.
RETRY_AFTER_SECONDS = 5
#: Close code of a websocket refused for now (RFC 6455's "Try Again Later").
CLOSE_TRY_AGAIN_LATER = 1013
#: SQLSTATEs of a server that cannot be reached or is going away: connection exceptions
#: (class 08), shutting down or starting up (57P01-57P03), no connection slot left (53300).
#: A failure inside the client (refused, timed out, a pool with nothing to give, a connection
#: lost) has none, and neither has a misuse ("the cursor is closed"): those are told apart
#: by what failed, see database_unreachable.
_UNREACHABLE_STATES = ("08", "57P01", "57P02", "57P03", "53300")

_lock = threading.Lock()
_down_since: float | None = None


def database_unreachable(error: BaseException) -> bool:
    """Whether `error` says the database cannot be reached (not that a query was wrong, nor
    that the code misused a live connection: those are 500s with their traceback)."""
    if not isinstance(error, OperationalError | InterfaceError):
        return False
    cause = error.__cause__
    if not isinstance(cause, psycopg.Error):
        return False
    if cause.sqlstate:
        return cause.sqlstate.startswith(_UNREACHABLE_STATES)
    if isinstance(cause, psycopg.errors.ConnectionTimeout | PoolTimeout):
        return True
    if cause.pgconn is not None:  # psycopg sets it on a failed connection attempt only
        return True
    failed = _psycopg_connection(cause)
    return failed is not None and failed.closed  # lost, or closed under the query


def _psycopg_connection(error: BaseException) -> psycopg.Connection | None:
    """The psycopg connection whose method (or whose cursor's) raised `error`, if any: psycopg
    raises from its own frames, so the innermost one holding a connection or cursor tells."""
    found = None
    trace = error.__traceback__
    while trace is not None:
        owner = trace.tb_frame.f_locals.get("self")
        if isinstance(owner, psycopg.Connection):
            found = owner
        elif isinstance(owner, psycopg.Cursor | psycopg.ServerCursor):
            found = owner.connection
        trace = trace.tb_next
    return found


def outage_noted(error: BaseException) -> bool:
    """Whether `error` is the database out of reach; the first of an outage is logged."""
    if not database_unreachable(error):
        return False
    global _down_since
    with _lock:
        if _down_since is not None:
            return True
        _down_since = time.monotonic()
    connection_created.connect(_outage_over, dispatch_uid=__name__)
    reason = (str(error).strip().splitlines() or [""])[0][:200]
    logger.warning(
        "The database is unreachable; answering 503 until it is back (%s: %s).",
        type(error.__cause__ or error).__name__,
        reason,
    )
    return True


def _outage_over(sender, connection, **kwargs) -> None:
    global _down_since
    with _lock:
        if _down_since is None:
            return
        lasted, _down_since = time.monotonic() - _down_since, None
    connection_created.disconnect(dispatch_uid=__name__)
    logger.info("The database is reachable again (unreachable for %.0f s).", lasted)


def outage_response(error: BaseException) -> JsonResponse | None:
    """The answer for an unreachable database (503, Retry-After, the API's error shape), or
    None when `error` is something else."""
    if not outage_noted(error):
        return None
    response = JsonResponse(
        {
            "detail": "The database is unavailable; try again later.",
            "code": "database_unavailable",
        },
        status=503,
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class OutageAnsweredFilter(logging.Filter):
    """Drops django.request's line for each 503 ("Service Unavailable: <path>"): the request
    log has every request already, and an outage is logged once here."""

    def filter(self, record):
        return getattr(record, "status_code", None) != 503


def websocket_outage_closed(inner):
    """An ASGI websocket application that, when connecting finds the database unreachable
    (the session, a token, the user's permissions), accepts and closes with 1013 (try again
    later) instead of failing the handshake with a traceback; a client reconnects later.
    The stream uses the database only while connecting, before it accepts."""

    async def application(scope, receive, send):
        connected = False

        async def receive_noted():
            nonlocal connected
            message = await receive()
            connected = connected or message["type"] == "websocket.connect"
            return message

        try:
            return await inner(scope, receive_noted, send)
        except (OperationalError, InterfaceError) as error:
            if not outage_noted(error):
                raise
        if not connected:
            await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER})

    return application
