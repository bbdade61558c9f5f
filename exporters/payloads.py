"""The body receivers get ("ANPR JSON"): the delivery id and a list of events, or of hits.

Every request has the same shape, whether it carries one event or a batch:
    {"delivery_id": "<uuid>", "exporter": "<name>", "sent_at": "<iso>", "kind": "reads",
     "events": [{...}]}
and for an exporter that sends watchlist hits, with "kind": "hits", a list `hits` instead of
`events`, each hit as `hit_payload` writes it (its `read` is an event as above, or null once
the read is deleted). docs/exporters.md shows both.

Each event is events.representation's document (what GET /api/events/{id}/ shows),
regrouped as receivers have always had it: `camera` {id, slug, name}, `zone` {id, name} or
null, `vehicle` {type, color, make, model and their `_raw` / `_confidence`}, and the images
as `plate_image` / `frame_image`: links that open without an account until they expire, or
null (events.image_links). Datetimes are in UTC, written `+00:00`.
"""

import json
from datetime import UTC, datetime

from django.utils import timezone

from events import representation
from events.image_links import image_link_signed
from events.models import PlateEvent
from watchlists.models import Hit

#: Document fields receivers do not get: our device id and search key, and `metadata` (what
#: a device sent besides the read, up to 64 KiB an event, for the API's users).
EXPORT_OMITTED = frozenset(("device", "plate_key", "metadata"))
#: Document fields gathered into one object each: {field: key in the object}.
_CAMERA_KEYS = {"camera": "id", "camera_slug": "slug", "camera_name": "name"}
_ZONE_KEYS = {"zone": "id", "zone_name": "name"}
_VEHICLE_PREFIX = "vehicle_"
_RENAMED = {"plate_image_url": "plate_image", "frame_image_url": "frame_image"}


def event_payload(event: PlateEvent) -> dict:
    """One event as receivers get it, from the same document as the API's and the live
    stream's: a field added there arrives here too, unless listed in EXPORT_OMITTED."""
    document = representation.plate_event_document(
        event=event, image_link=image_link_signed, datetime_text=_iso_utc
    )
    payload: dict = {}
    camera: dict = {}
    zone: dict = {}
    vehicle: dict = {}
    for name, value in document.items():
        if name in EXPORT_OMITTED:
            continue
        if name in _CAMERA_KEYS:
            payload.setdefault("camera", camera)[_CAMERA_KEYS[name]] = value
        elif name in _ZONE_KEYS:
            payload.setdefault("zone", zone)[_ZONE_KEYS[name]] = value
        elif name.startswith(_VEHICLE_PREFIX):
            payload.setdefault("vehicle", vehicle)[name.removeprefix(_VEHICLE_PREFIX)] = value
        else:
            payload[_RENAMED.get(name, name)] = value
    if zone.get("id") is None:
        payload["zone"] = None
    return payload


#: Fields of a hit's list as receivers get them, from the hit's snapshot (the list as it was
#: when the hit was raised).
_LIST_KEYS = ("id", "name", "kind", "priority", "colour")
_MATCH_KEYS = ("read_plate", "matched_plate", "candidate", "cost", "substituted")


def hit_payload(hit: Hit) -> dict:
    """One hit as receivers get it: why it was raised (the snapshot: list, entry, match), its
    current status, and its read (event_payload, or null once the read is deleted)."""
    snapshot = hit.snapshot or {}
    listed = snapshot.get("watchlist") or {}
    return {
        "id": str(hit.pk),
        "status": hit.status,
        "captured_at": _iso_utc(hit.captured_at),
        "list": {key: listed.get(key) for key in _LIST_KEYS},
        "entry": snapshot.get("entry"),
        "match": {key: snapshot.get(key) for key in _MATCH_KEYS},
        "read": event_payload(hit.event) if hit.event is not None else None,
    }


def delivery_body(
    *,
    delivery_id: str,
    exporter_name: str,
    events: list[PlateEvent] = (),
    hits: list[Hit] | None = None,
) -> bytes:
    """The exact bytes sent (and signed): the events, or the hits when `hits` is given."""
    document = {
        "delivery_id": str(delivery_id),
        "exporter": exporter_name,
        "sent_at": _iso_utc(timezone.now()),
    }
    if hits is None:
        document["kind"] = "reads"
        document["events"] = [event_payload(event) for event in events]
    else:
        document["kind"] = "hits"
        document["hits"] = [hit_payload(hit) for hit in hits]
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()
