"""The one representation of a plate event, from which every shape we send is made.

GET /api/events/ (events.api.serializers), the websocket frames (events.broadcast) and the
exporters' deliveries (exporters.payloads) all start from `plate_event_document`, so a field
added to the model is shown everywhere at once. They differ only in what the receiver can
open (`image_link`, see events.image_links) and in how datetimes are written; exporters
regroup the same values and leave out a declared few.

Built from the row's values directly rather than field by field through DRF: it runs for
every stored read that a live map is waiting for, and for every event of a list page.
"""

import functools
from collections.abc import Callable
from datetime import datetime

from django.db import models
from django.utils import timezone

from .models import PlateEvent

#: Columns not shown: the idempotency key is the device's own business, and the image files
#: are shown as links (`plate_image_url`, `frame_image_url`).
HIDDEN_COLUMNS = ("idempotency_key", "plate_image", "frame_image")

#: What the document adds after the model's columns: names of the camera and zone, image links.
RELATED_COLUMNS = ("camera_slug", "camera_name", "zone_name")
IMAGE_LINK_COLUMNS = ("plate_image_url", "frame_image_url")

#: How a receiver gets to an image: (event=, kind="plate"|"frame") -> URL or None.
ImageLink = Callable[..., str | None]


def datetime_render(value: datetime, zone) -> str:
    """As DRF renders it: in the given time zone, ISO 8601, UTC as Z."""
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


@functools.cache
def _columns() -> tuple[tuple[tuple[str, str], ...], tuple[str, ...], tuple[str, ...]]:
    """((shown name, attribute), ...) of the model's shown columns (a relation by its id under
    its own name), and which of them are datetimes and UUIDs; read from the model once."""
    shown = [f for f in PlateEvent._meta.concrete_fields if f.name not in HIDDEN_COLUMNS]
    return (
        tuple((field.name, field.attname) for field in shown),
        tuple(f.name for f in shown if isinstance(f, models.DateTimeField)),
        tuple(f.name for f in shown if isinstance(f, models.UUIDField)),
    )


def plate_event_document_keys() -> tuple[str, ...]:
    """The document's keys, in its order: the header of a CSV export (events.csv_export)."""
    plain, _, _ = _columns()
    return (*(name for name, _ in plain), *RELATED_COLUMNS, *IMAGE_LINK_COLUMNS)


def plate_event_document(
    *,
    event: PlateEvent,
    image_link: ImageLink,
    datetime_text: Callable[[datetime], str] | None = None,
) -> dict:
    """The event as GET /api/events/{id}/ shows it, with image links from `image_link`.

    `event` is a whole row (as ingest stores it or a query loads it) with its camera (and
    zone) loaded, so this makes no query. `datetime_text` writes datetimes; by default as the
    REST API does (in the current time zone, UTC as Z)."""
    plain, datetimes, uuids = _columns()
    values = event.__dict__
    document = {name: values[attribute] for name, attribute in plain}
    if datetime_text is None:
        zone = timezone.get_current_timezone()  # once: each lookup goes through asgiref
        datetime_text = functools.partial(datetime_render, zone=zone)
    for name in datetimes:
        document[name] = datetime_text(document[name])
    for name in uuids:
        document[name] = str(document[name])
    camera = event.camera
    document["camera_slug"] = camera.slug
    document["camera_name"] = camera.name
    document["zone_name"] = event.zone.name if event.zone_id else None
    document["plate_image_url"] = image_link(event=event, kind="plate")
    document["frame_image_url"] = image_link(event=event, kind="frame")  # IMAGE_LINK_COLUMNS
    return document
