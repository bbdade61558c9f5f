"""The live event stream, `/ws/events/`: committed plate reads pushed to signed-in users.

Protocol (JSON text frames):

- Connect with the browser's session from one of the site's origins (its own scheme, host
  and port, or CSRF_TRUSTED_ORIGINS; any other `Origin` has the handshake refused, see
  cameras/websocket_auth.py), or with a user API token (`Authorization: Bearer <token>` or
  `?token=`; any or no `Origin`). Device keys are refused. Other refusals are accepted and
  closed at once, because a refused handshake reaches a browser only as code 1006 with no
  reason:
  4400 bad filter in the query string (an `error` message naming the field comes first),
  4401 not signed in or the token is unknown/revoked, 4403 signed in without the permission to
  view events. An open stream is closed the same way within a minute of its token being
  revoked, its session ending or its user losing the role.
- 1013 (try again later): the database or the channel layer cannot be reached now; 1012
  (service restart): the channel layer failed while the stream was open and frames may have
  been lost. Reconnect in a few seconds and fetch what was missed from the REST API.
- Optional filters, at connect in the query string (`?cameras=1,2&zones=3&min_confidence=0.8`)
  or later with `{"type": "filter", "cameras": [1, 2], "zones": [], "min_confidence": 0.8}`
  (replaces the whole filter; the reply is the filter now in force). Empty means "all".
- Server → client: `{"type": "event.created", "event": {...}}` for each new event (a batch
  sends one frame per event, in the batch's order) and `{"type": "event.updated",
  "event": {...}}` when an event changes in place (same `id`); `event` has the shape of
  `GET /api/events/{id}/`. Frames of other kinds registered by other apps
  (events/live_kinds.py), e.g. `{"type": "hit", ...}` (watchlists/live.py), go only to users
  that kind allows, asked again at every recheck; `cameras` and `zones` apply to them too.
- Keep-alive: daphne sends websocket ping frames to idle connections (`--ping-interval`,
  20 s); clients that want an application-level check send `{"type": "ping"}` and get
  `{"type": "pong"}`.
- A message that is not JSON, not an object, of an unknown type or with bad filter values gets
  `{"type": "error", "code": ..., "detail": ..., "errors": {field: [...]}}`; the connection
  stays open.
"""

import asyncio
import json
import logging
import weakref
from importlib import import_module
from types import SimpleNamespace

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib import auth
from django.db import InterfaceError, OperationalError

from cameras.selectors import user_for_token
from cameras.websocket_auth import bearer_token
from core.json_bounds import json_parse
from core.metrics import WEBSOCKET_CONNECTIONS
from core.outage import CLOSE_TRY_AGAIN_LATER, outage_noted

from .broadcast import EVENTS_GROUP, LIVE_MESSAGE_TYPES
from .live_kinds import LiveAccess, live_access_of, live_layer_types
from .stream_filter import FilterError, StreamFilter

logger = logging.getLogger(__name__)

#: The channel layer failed: reconnect now and fetch what was missed (RFC 6455 "Service Restart").
CLOSE_STREAM_INTERRUPTED = 1012
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


@database_sync_to_async
def _session_user(scope):
    """The user of the connection's session as stored now (the scope holds a copy read at
    connect): anonymous once it was signed out, expired or its password changed."""
    session_key = scope["session"].session_key if "session" in scope else None
    if not session_key:
        return None
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return auth.get_user(SimpleNamespace(session=session))


async def _refusal(user) -> int | None:
    """The close code for a connection speaking for this user (None: a bad token), or None
    if it may subscribe."""
    if user is None or not user.is_authenticated:
        return CLOSE_UNAUTHENTICATED
    if not await database_sync_to_async(user.has_perm)("events.view_plateevent"):
        return CLOSE_FORBIDDEN
    return None


class ProcessFanOut:
    """This process's one membership of the events group, shared by its consumers.

    With a channel per consumer, a broadcast costs one layer message per client (50 clients:
    50 Redis pushes, 50 round trips and decodes in daphne, and channels' per-message
    database-connection check on a thread). Here it costs one per web process, received with
    the channel layer's public API (new_channel, group_add, receive, group_discard) and handed
    in memory to each consumer's frames_forward, a method of ours: Channels' dispatch is not
    involved. Every consumer still applies its own filter. Created per event loop (daphne has
    one; tests make several) and left when the last consumer goes.
    The membership is renewed every minute: channel layers end memberships that are old
    (group_expiry) or whose channel let a message expire, and this one lives for days.

    When the channel layer fails (receiving or renewing: Redis restarting, perhaps empty),
    frames were lost and the membership may be gone. The membership is dropped and every
    client closed with 1012 (CLOSE_STREAM_INTERRUPTED): each reconnects, which joins the group
    afresh, and catches up over the REST API. Waiting for the next renewal instead left maps
    showing "Live" with no frames for a minute and never showing the reads of the gap.
    """

    renew_every = 60  # seconds

    _per_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ProcessFanOut]" = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self):
        self.consumers: set[EventStreamConsumer] = set()
        self.channel: str | None = None
        self.tasks: tuple[asyncio.Task, ...] = ()  # receiving and renewing, for self.channel
        self.lock = asyncio.Lock()

    @classmethod
    def current(cls) -> "ProcessFanOut":
        loop = asyncio.get_running_loop()
        if loop not in cls._per_loop:
            cls._per_loop[loop] = cls()
        return cls._per_loop[loop]

    async def join(self, consumer: "EventStreamConsumer") -> None:
        """Raises what the channel layer raises when it cannot be reached (nothing joined)."""
        async with self.lock:
            if self.channel is None:
                layer = get_channel_layer()
                channel = await layer.new_channel()
                await layer.group_add(EVENTS_GROUP, channel)
                self.channel = channel
                self.tasks = (
                    asyncio.create_task(self._deliver_forever(layer, channel)),
                    asyncio.create_task(self._renew_forever(layer, channel)),
                )
            self.consumers.add(consumer)

    async def leave(self, consumer: "EventStreamConsumer") -> None:
        self.consumers.discard(consumer)
        async with self.lock:
            if self.consumers or self.channel is None:
                return
            channel = self._membership_dropped()
            try:
                await get_channel_layer().group_discard(EVENTS_GROUP, channel)
            except Exception as error:  # the layer is down: the membership expires there
                logger.warning("live stream: could not leave the group: %s", error)

    def _membership_dropped(self) -> str:
        """Forget the membership; its tasks stop (all but the one calling)."""
        channel, self.channel = self.channel, None
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        self.tasks = ()
        return channel

    async def _interrupted(self, channel: str, error: Exception) -> None:
        if channel != self.channel:  # already dropped (the other task saw it first)
            return
        logger.warning(
            "live stream: the channel layer failed (%s: %s); %d client(s) closed to reconnect "
            "and catch up",
            type(error).__name__,
            error,
            len(self.consumers),
        )
        self._membership_dropped()
        closing, self.consumers = self.consumers, set()
        for consumer in closing:
            try:
                await consumer.close(code=CLOSE_STREAM_INTERRUPTED)
            except Exception:  # a client already gone
                logger.debug("live stream: closing a client failed", exc_info=True)

    async def _renew_forever(self, layer, channel: str) -> None:
        while True:
            await asyncio.sleep(self.renew_every)
            try:
                await layer.group_add(EVENTS_GROUP, channel)
            except Exception as error:
                await self._interrupted(channel, error)
                return

    async def _deliver_forever(self, layer, channel: str) -> None:
        while True:
            try:
                message = await layer.receive(channel)
            except Exception as error:
                await self._interrupted(channel, error)
                return
            frames = message.get("frames")
            kind = message.get("type")
            known = kind in LIVE_MESSAGE_TYPES or kind in live_layer_types()
            if not known or not isinstance(frames, list):
                logger.warning("live stream: a layer message not from events.broadcast ignored")
                continue
            for consumer in tuple(self.consumers):
                try:
                    await consumer.frames_forward(frames)
                except Exception:  # one broken client must not silence the others
                    logger.exception("live stream: delivering %s failed", message["type"])


class EventStreamConsumer(AsyncWebsocketConsumer):
    """One websocket client of the live stream (see the module docstring for the protocol)."""

    stream_filter = StreamFilter()
    #: {kind name: LiveAccess} of the other kinds of frames this user may receive
    #: (events.live_kinds), asked at connect and at every recheck.
    kind_access: dict[str, LiveAccess] = {}

    #: Seconds between checks that the token or session (and the role) are still good.
    recheck_every = 60

    #: No channel of its own (get_channel_layer answers None for an alias not configured):
    #: frames come through ProcessFanOut, and a consumer receiving from Redis itself died
    #: with Redis, without its disconnect.
    channel_layer_alias = None

    async def __call__(self, scope, receive, send):
        # However the consumer ends (disconnected, closed, an error, cancelled by the server),
        # it leaves the fan-out and the connection count.
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._ended()

    async def connect(self):
        # Subscribed before accepted: a client that sees the connection open misses nothing.
        # Refusals are accepted too, then closed with their code (see the module docstring).
        user = self.scope.get("user")
        refusal = await _refusal(None if self.scope.get("token_refused") else user)
        if refusal:
            await self._refuse(refusal)
            return
        try:
            self.stream_filter = StreamFilter.from_query_string(self.scope["query_string"])
        except FilterError as error:
            await self._refuse(CLOSE_BAD_REQUEST, error.errors)
            return
        self.kind_access = await database_sync_to_async(live_access_of)(user)
        try:
            await ProcessFanOut.current().join(self)
        except Exception as error:  # the channel layer is down (Redis restarting)
            logger.warning("live stream: cannot join the channel layer: %s", error)
            await self._refuse(CLOSE_TRY_AGAIN_LATER)
            return
        self.joined = True
        WEBSOCKET_CONNECTIONS.inc()
        await self.accept()
        self.recheck = asyncio.create_task(self._recheck_forever())

    async def _recheck_forever(self):
        """Close a stream whose token was revoked, whose session ended (sign-out, password
        change) or whose user lost the role, within recheck_every seconds."""
        while True:
            await asyncio.sleep(self.recheck_every)
            token = bearer_token(self.scope)
            try:
                if token:
                    user = await database_sync_to_async(user_for_token)(token=token)
                else:
                    user = await _session_user(self.scope)
                if user is not None and user.pk != self.scope["user"].pk:
                    user = None
                refusal = await _refusal(user)
                if not refusal:
                    self.kind_access = await database_sync_to_async(live_access_of)(user)
            except (OperationalError, InterfaceError) as error:
                if not outage_noted(error):
                    raise
                continue  # the database is down: check again next time
            if refusal:
                await self.close(code=refusal)
                return

    async def _refuse(self, code: int, filter_errors: dict | None = None):
        await self.accept()
        if filter_errors:
            await self._send_error("invalid_filter", "The filter is not valid.", filter_errors)
        await self.close(code=code)

    async def _ended(self):
        if getattr(self, "recheck", None):
            self.recheck.cancel()
        if getattr(self, "joined", False):
            self.joined = False
            WEBSOCKET_CONNECTIONS.dec()
            await ProcessFanOut.current().leave(self)

    # --- Client → server: one handler per message type ---------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if text_data is None:
            await self._send_error("invalid_message", "Send JSON text frames, not binary.")
            return
        try:
            message = json_parse(text_data)
        except ValueError:
            await self._send_error("invalid_json", "The message is not valid JSON.")
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self._send_error(
                "invalid_message",
                'A message is a JSON object with a "type".',
                {"type": ["This field is required."]},
            )
            return
        handler = self.client_handlers.get(message["type"])
        if handler is None:
            await self._send_error(
                "unknown_type",
                f"Unknown message type {message['type']!r}.",
                {"type": [f"Use one of: {', '.join(sorted(self.client_handlers))}."]},
            )
            return
        await handler(self, message)

    async def on_filter(self, message: dict):
        try:
            self.stream_filter = StreamFilter.from_values(
                cameras=message.get("cameras"),
                zones=message.get("zones"),
                min_confidence=message.get("min_confidence"),
            )
        except FilterError as error:
            await self._send_error("invalid_filter", "The filter is not valid.", error.errors)
            return
        await self._send_json({"type": "filter", **self.stream_filter.as_json()})

    async def on_ping(self, message: dict):
        await self._send_json({"type": "pong"})

    client_handlers = {"filter": on_filter, "ping": on_ping}

    # --- Channel layer → client (frames sent by events.broadcast, via ProcessFanOut) --------

    async def frames_forward(self, frames: list[dict]):
        """Send this client the frames its filter and its access let through, in order."""
        for frame in frames:
            if "kind" in frame:
                if self._kind_allows(frame):
                    await self.send(text_data=frame["text"])
            elif self.stream_filter.matches(
                camera=frame["camera"], zone=frame["zone"], confidence=frame["confidence"]
            ):
                await self.send(text_data=frame["text"])

    def _kind_allows(self, frame: dict) -> bool:
        access = self.kind_access.get(frame["kind"], LiveAccess.NONE)
        audience = frame.get("audience")
        if access == LiveAccess.NONE or (
            audience is not None
            and access < LiveAccess.ALL
            and self.scope["user"].pk not in audience
        ):
            return False
        return self.stream_filter.in_scope(camera=frame["camera"], zone=frame["zone"])

    async def _send_json(self, body: dict):
        await self.send(text_data=json.dumps(body))

    async def _send_error(self, code: str, detail: str, errors: dict | None = None):
        body = {"type": "error", "code": code, "detail": detail}
        if errors:
            body["errors"] = errors
        await self._send_json(body)
