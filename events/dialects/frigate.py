"""Frigate NVR (0.16+) MQTT messages, as published, and the life of one tracked object.

Messages (the topic prefix is configurable in Frigate, default `frigate`):
- `<prefix>/events`: `{"type": "new" | "update" | "end", "before": {...}, "after": {...}}`;
  the object in `after` carries `recognized_license_plate` and `..._score` once Frigate's
  licence plate recognition has read a plate.
- `<prefix>/tracked_object_update` of `"type": "lpr"`: `{"id", "plate", "score", "camera",
  "timestamp", "plate_box", "name"}`. Other types (descriptions, faces) are ignored.

One tracked object is one event: the Frigate object id is the event id. A message without a
plate is no read. What becomes of a read (created, refined in place while the object is open,
final after `end`) is decided by events/services/tracked_objects.py.
`captured_at` is the object's start time (`start_time`, or the id, which Frigate builds as
"<start time>-<random>"), so it stays put while the object is refined. Frigate's zones and
speeds (mph or km/h, per Frigate's config) go to metadata. Scores are already 0..1.
"""

from dataclasses import dataclass

from events.reads import ReadIn

from . import as_dict, as_list, compact, epoch_seconds, invalid, optional_number, text

SOURCE = "frigate"
EVENT_TYPES = ("new", "update", "end")


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
