"""Frigate NVR (0.16+) MQTT messages, as published, and the life of one tracked object.

Messages (the topic prefix is configurable in Frigate, default `frigate`):
- `<prefix>/events`: `{"type": "new" | "update" | "end", "before": {...}, "after": {...}}`;
  the object in `after` carries `recognized_license_plate` and `..._score` once Frigate's
  licence plate recognition has read a plate.
- `<prefix>/tracked_object_update` of `"type": "lpr"`: `{"id", "plate", "score", "camera",
  "timestamp", "plate_box", "name"}`. Other types (descriptions, faces) are ignored.

One tracked object is one event: the Frigate object id is the event id. A message without a
plate stores nothing. The first message with a plate creates the event (and, as for every
created event, plans its export deliveries: once per object, at creation); later messages
update it in place while the object is open (plate, score, box; an earlier different plate
is kept as a candidate), and `end` makes it final: later messages change nothing.
`captured_at` is the object's start time (`start_time`, or the id, which Frigate builds as
"<start time>-<random>"), so it stays put while the object is refined. Frigate's zones and
speeds (mph or km/h, per Frigate's config) go to metadata. Scores are already 0..1.
"""

from dataclasses import dataclass

from django.db import transaction

from cameras.models import EdgeDevice
from events.models import PlateEvent
from events.reads import ReadIn
from events.services.ingest import plate_events_ingest
from events.services.results import DUPLICATE, REJECTED, IngestResult, ReadRejected
from events.services.update import plate_event_update

from . import as_dict, as_list, compact, epoch_seconds, invalid, optional_number, text

SOURCE = "frigate"
UPDATED = "updated"
EVENT_TYPES = ("new", "update", "end")
#: metadata key set by `end`: the object is closed, its event final.
ENDED = "frigate_ended"


@dataclass
class FrigateRead:
    """A Frigate message that carries a plate: the read, and whether the object has ended."""

    read: ReadIn
    ended: bool = False


def read_from_message(message) -> FrigateRead | None:
    """The plate read in a `frigate/events` or `tracked_object_update` message, or None."""
    message = as_dict(message, "body")
    kind = message.get("type")
    if kind == "lpr":
        return _read_from_lpr_update(message)
    if kind in EVENT_TYPES:
        tracked = message.get("after") or message.get("before")
        return _read_from_event(as_dict(tracked, "after"), ended=kind == "end")
    if isinstance(kind, str) and message.get("id") and "after" not in message:
        return None  # another tracked_object_update type (description, face, ...)
    raise invalid("type", f"Expected new, update, end or lpr; got {kind!r}.")


def _read_from_event(tracked: dict, *, ended: bool) -> FrigateRead | None:
    plate = text(tracked.get("recognized_license_plate"), "after.recognized_license_plate")
    if not plate:
        return None
    object_id = _object_id(tracked.get("id"), "after.id")
    start = tracked.get("start_time")
    sub_label = tracked.get("sub_label")
    read = ReadIn(
        plate=plate,
        captured_at=(
            epoch_seconds(start, "after.start_time")
            if start is not None
            else _start_from_id(object_id, "after.id")
        ),
        camera=text(tracked.get("camera"), "after.camera"),
        event_id=object_id,
        confidence=optional_number(
            tracked.get("recognized_license_plate_score"), "after.recognized_license_plate_score"
        ),
        vehicle_type=text(tracked.get("label"), "after.label"),
        source=SOURCE,
        metadata=compact(
            sub_label=sub_label[0] if isinstance(sub_label, list) and sub_label else sub_label,
            current_zones=as_list(tracked.get("current_zones"), "after.current_zones"),
            entered_zones=as_list(tracked.get("entered_zones"), "after.entered_zones"),
            average_estimated_speed=tracked.get("average_estimated_speed"),
            velocity_angle=tracked.get("velocity_angle"),
            end_time=tracked.get("end_time"),
        ),
    )
    if ended:
        read.metadata[ENDED] = True
    return FrigateRead(read=read, ended=ended)


def _read_from_lpr_update(message: dict) -> FrigateRead | None:
    plate = text(message.get("plate"), "plate")
    if not plate:
        return None
    object_id = _object_id(message.get("id"), "id")
    box = message.get("plate_box")
    read = ReadIn(
        plate=plate,
        captured_at=_start_from_id(object_id, "id", fallback=message.get("timestamp")),
        camera=text(message.get("camera"), "camera"),
        event_id=object_id,
        confidence=optional_number(message.get("score"), "score"),
        plate_box=as_list(box, "plate_box") or None,
        source=SOURCE,
        metadata=compact(known_name=message.get("name"), plate_seen_at=message.get("timestamp")),
    )
    return FrigateRead(read=read)


def _object_id(value, field: str) -> str:
    object_id = text(value, field)
    if not object_id:
        raise invalid(field, "The tracked object's id is required.")
    return object_id


def _start_from_id(object_id: str, field: str, fallback=None):
    """Frigate ids are "<start frame time>-<6 random characters>"."""
    start, dash, _ = object_id.rpartition("-")
    try:
        return epoch_seconds(float(start), field)
    except ValueError:
        if fallback is None or not dash:
            raise invalid(field, "Expected Frigate's '<start time>-<random>' id.") from None
        return epoch_seconds(fallback, "timestamp")


# --- The life of a tracked object -----------------------------------------------------------


def frigate_message_ingest(*, device: EdgeDevice, message) -> list[IngestResult]:
    """Create, update in place, or leave alone the event of the message's tracked object.

    Returns one result (created / updated / duplicate / rejected) or none when the message
    carries no plate. Used by the HTTP endpoint and `manage.py frigate_listen` alike.
    """
    frigate = read_from_message(message)
    if frigate is None:
        return []
    read = frigate.read
    results = plate_events_ingest(device=device, reads=[read])
    if results[0].status != DUPLICATE:
        return results
    with transaction.atomic():
        # one writer per object at a time (relays may race); the lock covers this row only
        event = (
            PlateEvent.objects.select_for_update(of=("self",))
            .select_related("camera", "device")
            .get(pk=results[0].id)
        )
        if event.metadata.get(ENDED) or not _changes(event, frigate):
            return results
        _merge(event, read)
        try:
            plate_event_update(event=event, read=read)
        except ReadRejected as rejected:  # what the merge kept no longer passes: say so
            return [IngestResult(REJECTED, errors=rejected.errors, code=rejected.code)]
    return [IngestResult(UPDATED, id=event.pk)]


def _changes(event: PlateEvent, frigate: FrigateRead) -> bool:
    read = frigate.read
    return (
        frigate.ended
        or read.plate.strip() != event.plate_raw
        or read.confidence != event.confidence
        or (read.plate_box is not None and read.plate_box != event.plate_box)
    )


def _merge(event: PlateEvent, read: ReadIn) -> None:
    """What the message does not say stays as the event had it (an `lpr` update names no
    vehicle type or zones); earlier, different plates are kept as candidates."""
    read.vehicle_type = read.vehicle_type or event.vehicle_type_raw
    read.plate_box = read.plate_box if read.plate_box is not None else event.plate_box
    read.metadata = {**event.metadata, **read.metadata}
    plate = read.plate.strip()
    candidates = [
        c for c in event.candidates or [] if isinstance(c, dict) and c.get("plate") != plate
    ]
    if event.plate_raw != plate and all(c.get("plate") != event.plate_raw for c in candidates):
        candidates.append({"plate": event.plate_raw, "confidence": event.confidence})
    read.candidates = candidates
