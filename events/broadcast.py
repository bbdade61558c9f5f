"""Committed events → the channel layer, for the websocket clients of the live map.

Called only from `transaction.on_commit` in events/services.py, so a rolled-back ingest sends
nothing. Each event's JSON frame is built once here, not once per client, with routing
fields beside it so that each consumer filters without parsing it. A batch travels as few
layer messages (up to LAYER_BATCH events each: one group_send per chunk, not per event), and
clients still receive one `event.created` frame per event. Each web process holds one channel
in the group (events.consumers.ProcessFanOut) and hands messages to its consumers in memory.
Nothing here waits for a client: a full channel (a stalled process) drops the message
(CHANNEL_CAPACITY), and daphne buffers a slow client's frames without blocking (and drops
a connection that stops answering its pings).
"""

import asyncio
import json
import logging
import os
import threading
from collections.abc import Sequence

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder

from cameras.models import Zone

from .api.serializers import PlateEventSerializer
from .models import PlateEvent

logger = logging.getLogger(__name__)

#: The one group every web process joins (once); filters are applied per consumer.
EVENTS_GROUP = "events.live"
#: Events per layer message of a batch: bounds a message's size in Redis.
LAYER_BATCH = 100

_serializer = None


def event_payload(event: PlateEvent) -> dict:
    """The event as GET /api/events/{id}/ shows it (image URLs relative to this site)."""
    global _serializer
    if _serializer is None:
        # Built once: constructing a ModelSerializer costs milliseconds, using it microseconds.
        _serializer = PlateEventSerializer()
    return _serializer.to_representation(event)


def _frame(event: PlateEvent, kind: str) -> dict:
    """One client frame and what consumers filter it by."""
    text = json.dumps({"type": kind, "event": event_payload(event)}, cls=DjangoJSONEncoder)
    return {
        "text": text,
        "camera": event.camera_id,
        "zone": event.zone_id,
        "confidence": event.confidence,
    }


def _zones_load(events: Sequence[PlateEvent]) -> None:
    """Zone names for the payloads in one query, not one per event."""
    missing = {e.zone_id for e in events if e.zone_id and not PlateEvent.zone.is_cached(e)}
    if missing:
        zones = Zone.objects.in_bulk(missing)
        for event in events:
            if event.zone_id in zones:
                event.zone = zones[event.zone_id]


async def _group_send_all(messages: list[dict]) -> None:
    layer = get_channel_layer()
    for message in messages:
        await layer.group_send(EVENTS_GROUP, message)


class _SenderLoop:
    """An event loop on a daemon thread of this process, for sending to a Redis channel layer
    from sync code (gunicorn, Celery, daphne's view threads). async_to_sync would start a
    loop, a thread and a Redis connection for every call (about 5 ms); this keeps one of each
    per process. The caller does not wait: messages go into a bounded queue that one task
    sends in order, so neither a slow Redis nor a slow client ever slows ingest (when the
    queue is full, messages are dropped and logged; the live map catches up on reconnect).
    Started lazily, so a forked worker gets its own."""

    max_pending = 1000  # layer messages (each up to LAYER_BATCH events)

    def __init__(self):
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def run(self, messages: list[dict]) -> None:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._loop, self._pid = asyncio.new_event_loop(), os.getpid()
                self._queue = asyncio.Queue(self.max_pending)
                threading.Thread(
                    target=self._loop.run_until_complete,
                    args=(self._drain(self._queue),),
                    name="channel-layer-sender",
                    daemon=True,
                ).start()
        self._loop.call_soon_threadsafe(self._offer, self._queue, messages)

    @staticmethod
    def _offer(queue: asyncio.Queue, messages: list[dict]) -> None:
        try:
            queue.put_nowait(messages)
        except asyncio.QueueFull:
            logger.warning("Live stream is behind: %d layer message(s) dropped.", len(messages))

    @staticmethod
    async def _drain(queue: asyncio.Queue) -> None:
        while True:
            messages = await queue.get()
            try:
                await _group_send_all(messages)
            except Exception:  # a layer outage costs live frames, never the sender
                logger.warning("Could not send to the channel layer.", exc_info=True)


_sender_loop = _SenderLoop()


def _send(messages: list[dict]) -> None:
    if isinstance(get_channel_layer(), InMemoryChannelLayer):
        # The in-memory layer lives on the ASGI server's own loop: send from there.
        async_to_sync(_group_send_all)(messages)
    else:
        _sender_loop.run(messages)


def broadcast_events(events: Sequence[PlateEvent]) -> None:
    """Tell live clients about newly stored events (each becomes an `event.created` frame)."""
    if not events:
        return
    _zones_load(events)
    frames = [_frame(event, "event.created") for event in events]
    messages = [
        {"type": "events.created", "frames": frames[start : start + LAYER_BATCH]}
        for start in range(0, len(frames), LAYER_BATCH)
    ]
    _send(messages)


def broadcast_event_update(event: PlateEvent) -> None:
    """Tell live clients that a stored event changed in place (same id; e.g. Frigate)."""
    _zones_load([event])
    frames = [_frame(event, "event.updated")]
    _send([{"type": "events.updated", "frames": frames}])
