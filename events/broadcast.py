"""Committed events → the channel layer, for the websocket clients of the live map.

Called only from `transaction.on_commit` in events/services.py, so a rolled-back ingest sends
nothing. A batch sends one message per event (clients handle one shape). The JSON text is
built once here, not once per client; the routing fields beside it let each consumer filter
without parsing it. A full client channel drops the message (channel layer capacity), so a
stalled client never slows ingest.
"""

import json
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder

from .models import PlateEvent

#: The one group every live consumer joins; filters are applied per consumer.
EVENTS_GROUP = "events.live"
EVENT_CREATED = "event.created"
EVENT_UPDATED = "event.updated"


def event_payload(event: PlateEvent) -> dict:
    """The event as the REST API reads it (image URLs relative to this site)."""
    from .api.serializers import PlateEventSerializer

    return PlateEventSerializer(event).data


def _layer_message(event: PlateEvent, kind: str) -> dict:
    text = json.dumps({"type": kind, "event": event_payload(event)}, cls=DjangoJSONEncoder)
    return {
        "type": kind,
        "text": text,
        "camera": event.camera_id,
        "zone": event.zone_id,
        "confidence": event.confidence,
    }


async def _group_send_all(messages: list[dict]) -> None:
    layer = get_channel_layer()
    for message in messages:
        await layer.group_send(EVENTS_GROUP, message)


def broadcast_events(events: Iterable[PlateEvent]) -> None:
    """Tell live clients about newly stored events, one message each."""
    messages = [_layer_message(event, EVENT_CREATED) for event in events]
    if messages:
        async_to_sync(_group_send_all)(messages)


def broadcast_event_update(event: PlateEvent) -> None:
    """Tell live clients that a stored event changed in place (same id; e.g. Frigate)."""
    async_to_sync(_group_send_all)([_layer_message(event, EVENT_UPDATED)])
