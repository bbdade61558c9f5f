"""Committed events → the channel layer, for the websocket clients of the live map.

Called only from `transaction.on_commit` in events/services/, so a rolled-back ingest sends
nothing. Each event's JSON frame is built once here, not once per client, with routing
fields beside it so that each consumer filters without parsing it. Frames travel in as few
layer messages as possible (up to LAYER_BATCH events each: a batch, and on Redis whatever a
process stored within LIVE_SEND_INTERVAL), and clients still receive one frame per event.
Each web process holds one channel in the group (events.consumers.ProcessFanOut) and hands
messages to its consumers in memory.
On Redis, frames are built on the sender's thread and only while some web process is in the
group: with no live map open, a stored read costs a list append, not a frame and a send
(about a tenth of a single-read ingest's CPU, measured).
Nothing here waits for a client: a full channel (a stalled process) drops the message
(CHANNEL_CAPACITY), and daphne buffers a slow client's frames without blocking (and drops
a connection that stops answering its pings).
"""

import asyncio
import contextlib
import functools
import logging
import math
import os
import threading
from collections.abc import Callable, Sequence

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.urls import get_script_prefix, set_script_prefix
from django.utils import timezone

from cameras.models import Camera, Zone
from core.channel_layer_adapter import group_member_count

from . import representation
from .image_links import image_link_site
from .live_kinds import live_kinds, live_layer_type
from .models import PlateEvent
from .representation import datetime_render

logger = logging.getLogger(__name__)

#: The one group every web process joins (once); filters are applied per consumer.
EVENTS_GROUP = "events.live"
#: Events per layer message of a batch: bounds a message's size in Redis.
LAYER_BATCH = 100
#: Seconds between a sender's looks at the group while no web process is in it. A live map
#: opened meanwhile loses nothing (what was stored before it joined is in the list it loads
#: when it connects); its first frames may wait this long.
NOBODY_LISTENING_RECHECK = 0.5
#: Seconds a look that found the group in use is trusted: a group left meanwhile costs frames
#: sent to nobody, never a lost one; while maps are open this spares a round trip per send.
LISTENING_TRUSTED_FOR = 5
#: The client frame type of each layer message type.
_FRAME_TYPES = {"events.created": "event.created", "events.updated": "event.updated"}
#: The layer messages sent here: {"type": one of these, "frames": [frame, ...]}.
LIVE_MESSAGE_TYPES = frozenset(_FRAME_TYPES)

#: What a sender's list holds: a read (its frame built there), a built frame of another kind,
#: or a function that builds one (broadcast_frames).
Sendable = PlateEvent | dict | Callable[[], dict]

#: Frames are JSON text; one encoder, not one per frame (same C encoder as json.dumps).
_ENCODER = DjangoJSONEncoder()


def _frame(event: PlateEvent, kind: str, time_zone) -> dict:
    """One client frame and what consumers filter it by."""
    document = representation.plate_event_document(
        event=event,
        image_link=image_link_site,  # relative to the site: the client's own origin
        datetime_text=functools.partial(datetime_render, zone=time_zone),
    )
    text = _ENCODER.encode({"type": kind, "event": document})
    return {
        "text": text,
        "camera": event.camera_id,
        "zone": event.zone_id,
        "confidence": event.confidence,
    }


def _relations_load(events: Sequence[PlateEvent]) -> None:
    """The cameras and zones the frames name, in a query per model (none when loaded already,
    as ingest hands them over). Here, on the caller's thread: frames may be built on the
    sender's, where the database is not to be used."""
    for relation, model in ((PlateEvent.camera, Camera), (PlateEvent.zone, Zone)):
        field = relation.field
        missing = {
            getattr(e, field.attname)
            for e in events
            if getattr(e, field.attname) is not None and not relation.is_cached(e)
        }
        if missing:
            loaded = model.objects.in_bulk(missing)
            for event in events:
                if getattr(event, field.attname) in loaded:
                    setattr(event, field.name, loaded[getattr(event, field.attname)])


async def _group_send_all(messages: list[dict]) -> None:
    layer = get_channel_layer()
    for message in messages:
        await layer.group_send(EVENTS_GROUP, message)


async def _anyone_listening() -> bool:
    """Whether some web process is in the events group now (on layers that cannot be asked,
    as the in-memory one: True)."""
    members = await group_member_count(layer=get_channel_layer(), group=EVENTS_GROUP)
    return members is None or members > 0


def _frames(pending: list[tuple[str, Sendable, str]]) -> list[tuple[str, dict]]:
    """(message type, frame) for (message type, event, script prefix) in order; the prefix
    is the storing request's, for the image URLs. An event whose frame fails is logged and
    left out, not the others with it. Frames of other kinds (broadcast_frames) come built, or
    as a function that builds one."""
    time_zone = timezone.get_default_timezone()  # the REST API's (nothing activates another)
    frames, prefix = [], None
    for kind, item, script_prefix in pending:
        if isinstance(item, dict):  # built by the caller
            frames.append((kind, item))
            continue
        if script_prefix != prefix:
            set_script_prefix(prefix := script_prefix)
        read = isinstance(item, PlateEvent)
        try:
            frames.append((kind, _frame(item, _FRAME_TYPES[kind], time_zone) if read else item()))
        except Exception:  # a read named by its id, never by what it holds (a plate)
            logger.exception(
                "Live stream: no %s frame%s.", kind, f" for event {item.pk}" if read else ""
            )
    return frames


class _SenderLoop:
    """An event loop on a daemon thread of this process, for sending to a Redis channel layer
    from sync code (gunicorn, Celery, daphne's view threads). async_to_sync would start a
    loop, a thread and a Redis connection for every call; this keeps one of each per
    process. The caller does not wait: its events join a bounded list that one task turns
    into frames and sends in order, so neither a slow Redis nor a slow client ever slows
    ingest (when the list is full, events are dropped and logged; an open map misses them
    until it next reconnects).

    Sends are at least LIVE_SEND_INTERVAL apart: events that arrive meanwhile go together, in
    as few layer messages as their kinds and LAYER_BATCH allow. A group_send costs 2-4 Redis
    round trips whatever it carries, so under load this is most of the live stream's cost; a
    quiet process sends at once. Frames of a prompt kind (an alert) end the wait: they go at
    once, with whatever is waiting.
    Before building frames the task asks Redis whether any web process is in the group
    (core.channel_layer_adapter; trusted for LISTENING_TRUSTED_FOR when the answer is yes):
    if none is, the events are dropped (they were committed before the answer, so a map that
    joins later loads them from the REST API) and the next look is NOBODY_LISTENING_RECHECK
    later. Started lazily, so a forked worker gets its own."""

    max_pending = 10_000  # events waiting to be sent

    def __init__(self):
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._pending: list[tuple[str, Sendable, str]] = []  # (message type, event, prefix)
        self._woken = False
        self._prompt = False  # a prompt frame is waiting
        self._prompted: asyncio.Event | None = None
        self._listening_until = -math.inf  # loop time until which a "yes" is trusted

    def run(self, kind: str, events: Sequence[Sendable], *, prompt: bool = False) -> None:
        script_prefix = get_script_prefix()
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._loop, self._pid = asyncio.new_event_loop(), os.getpid()
                self._pending, self._woken, self._listening_until = [], False, -math.inf
                self._prompt = False
                self._wakeup, self._prompted = asyncio.Event(), asyncio.Event()
                threading.Thread(
                    target=self._loop.run_until_complete,
                    args=(self._drain(),),
                    name="channel-layer-sender",
                    daemon=True,
                ).start()
            if len(self._pending) + len(events) > self.max_pending:
                logger.warning("Live stream is behind: %d event(s) dropped.", len(events))
                return
            self._pending.extend((kind, event, script_prefix) for event in events)
            wake, self._woken = not self._woken, True
            self._prompt = self._prompt or prompt
        if wake:  # once per send, not once per event
            self._loop.call_soon_threadsafe(self._wakeup.set)
        if prompt:
            self._loop.call_soon_threadsafe(self._prompted.set)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        next_send = -math.inf
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            delay = next_send - loop.time()
            with self._lock:
                wait = delay > 0 and not self._prompt
            if wait:  # events arriving meanwhile go in this send; a prompt one ends the wait
                self._prompted.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._prompted.wait(), delay)
            with self._lock:
                pending, self._pending, self._woken = self._pending, [], False
                self._prompt = False
            next_send = loop.time() + settings.LIVE_SEND_INTERVAL
            try:
                if not await self._listening(loop.time()):
                    next_send = loop.time() + NOBODY_LISTENING_RECHECK
                    continue
                messages = _messages(_frames(pending))
                await _group_send_all(messages)
            except Exception:  # a layer outage costs live frames, never the sender
                logger.warning("Could not send to the channel layer.", exc_info=True)

    async def _listening(self, now: float) -> bool:
        if now < self._listening_until:
            return True
        if await _anyone_listening():
            self._listening_until = now + LISTENING_TRUSTED_FOR
            return True
        return False


def _messages(pending: list[tuple[str, dict]]) -> list[dict]:
    """Layer messages for frames in order: runs of one type, up to LAYER_BATCH frames each."""
    messages: list[dict] = []
    for kind, frame in pending:
        if messages and messages[-1]["type"] == kind and len(messages[-1]["frames"]) < LAYER_BATCH:
            messages[-1]["frames"].append(frame)
        else:
            messages.append({"type": kind, "frames": [frame]})
    return messages


_sender_loop = _SenderLoop()


def _send(kind: str, events: Sequence[Sendable], *, prompt: bool = False) -> None:
    if isinstance(get_channel_layer(), InMemoryChannelLayer):
        # The in-memory layer lives on the ASGI server's own loop: send from there.
        prefix = get_script_prefix()
        frames = _frames([(kind, event, prefix) for event in events])
        async_to_sync(_group_send_all)(_messages(frames))
    else:
        _sender_loop.run(kind, events, prompt=prompt)


def broadcast_events(events: Sequence[PlateEvent]) -> None:
    """Tell live clients about newly stored events (each becomes an `event.created` frame).
    The events must not change afterwards: their frames may be built later, on another
    thread."""
    if not events:
        return
    _relations_load(events)
    _send("events.created", events)


def broadcast_event_update(event: PlateEvent) -> None:
    """Tell live clients that a stored event changed in place (same id; e.g. Frigate)."""
    _relations_load([event])
    _send("events.updated", [event])


def live_frame(*, kind: str, body: dict, camera: int, zone: int | None, audience=None) -> dict:
    """A frame of a registered kind (events.live_kinds) as consumers route it: the client
    receives `body` after {"type": kind} (first, so a client may tell frames apart without
    parsing them); `audience`, a list of user ids, limits it to them and to users with
    LiveAccess.ALL (None: anyone with access to the kind)."""
    return {
        "text": _ENCODER.encode({"type": kind, **body}),
        "kind": kind,
        "camera": camera,
        "zone": zone,
        "audience": None if audience is None else list(audience),
    }


def broadcast_frames(*, kind: str, frames: list[dict | Callable[[], dict]]) -> None:
    """Tell live clients about something of a registered kind (frames from live_frame), on
    the reads' path: one layer message per LAYER_BATCH frames, one fan-out per process. A
    frame may come as a function that builds it: it is then built where reads' frames are
    (on Redis, on the sender's thread and only while some web process is in the group), so
    it must not use the database."""
    registered = live_kinds().get(kind)
    if registered is None:
        raise ValueError(f"Live frame kind {kind!r} is not registered.")
    if frames:
        _send(live_layer_type(kind), frames, prompt=registered.prompt)
