"""The body receivers get ("ANPR JSON"): the delivery id and a list of events.

Every request has the same shape, whether it carries one event or a batch:
    {"delivery_id": "<uuid>", "exporter": "<name>", "sent_at": "<iso>", "events": [{...}]}
"""

import json

from django.utils import timezone

from events.models import PlateEvent


def event_payload(event: PlateEvent) -> dict:
    camera = event.camera
    zone = event.zone
    return {
        "id": str(event.id),
        "plate": event.plate,
        "plate_raw": event.plate_raw,
        "confidence": event.confidence,
        "candidates": event.candidates,
        "country": event.country,
        "region": event.region,
        "captured_at": _iso(event.captured_at),
        "received_at": _iso(event.received_at),
        "camera": {"id": camera.id, "slug": camera.slug, "name": camera.name},
        "zone": {"id": zone.id, "name": zone.name} if zone else None,
        "vehicle": {
            "type": event.vehicle_type,
            "color": event.vehicle_color,
            "make": event.vehicle_make,
            "model": event.vehicle_model,
        },
        "direction": event.direction,
        "heading": event.heading,
        "speed_kmh": event.speed_kmh,
        "plate_image": event.plate_image.url if event.plate_image else None,
        "frame_image": event.frame_image.url if event.frame_image else None,
        "source": event.source,
    }


def delivery_body(*, delivery_id: str, exporter_name: str, events: list[PlateEvent]) -> bytes:
    """The exact bytes sent (and signed)."""
    document = {
        "delivery_id": str(delivery_id),
        "exporter": exporter_name,
        "sent_at": _iso(timezone.now()),
        "events": [event_payload(event) for event in events],
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _iso(value) -> str | None:
    return value.isoformat() if value else None
