"""Committed events → the channel layer, for the websocket clients of the live map.

Called only from `transaction.on_commit` in events/services.py, so a rolled-back ingest sends
nothing. Each event's JSON frame is built once here, not once per client, with routing
fields beside it so that each consumer filters without parsing it. A batch travels as few
layer messages (up to LAYER_BATCH events each: one group_send per chunk, not per event), and
clients still receive one `event.created` frame per event. A full client channel drops the
message (channel layer capacity), so a stalled client never slows ingest.
"""

import json
from collections.abc import Sequence

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder

from cameras.models import Zone

from .models import PlateEvent

#: The one group every live consumer joins; filters are applied per consumer.
EVENTS_GROUP = "events.live"
#: Events per layer message of a batch: bounds a message's size in Redis.
LAYER_BATCH = 100

_serializer = None


def event_payload(event: PlateEvent) -> dict:
    """The event as GET /api/events/{id}/ shows it (image URLs relative to this site)."""
    global _serializer
    if _serializer is None:
        from .api.serializers import PlateEventSerializer

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
    async_to_sync(_group_send_all)(messages)


def broadcast_event_update(event: PlateEvent) -> None:
    """Tell live clients that a stored event changed in place (same id; e.g. Frigate)."""
    _zones_load([event])
    frames = [_frame(event, "event.updated")]
    async_to_sync(_group_send_all)([{"type": "events.updated", "frames": frames}])
