"""The rules a plate read must pass before it is stored, in plain Python (this runs for every
read on the hot path): which of the device's cameras and zones it names, its plate and time,
its vocabularies, and images checked by content. Text limits are the model fields' own.
"""

import hashlib
import io
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings

from cameras.models import Camera, EdgeDevice, Zone
from core.ids import time_ordered_uuid
from core.json_bounds import TOO_DEEP, json_bounds_error
from core.timestamps import timestamp_check
from events.models import PlateEvent, event_image_name
from events.reads import ImageIn, ReadIn, plate_confusion_key, plate_normalize

from .device_cameras import CameraUnknown, DeviceCameras
from .results import ReadRejected
from .retention import event_retention_days
from .storage import FIELDS, INDEX

# --- Vocabularies ---------------------------------------------------------------------------

_VEHICLE_TYPES = {
    **dict.fromkeys(
        ("car", "sedan", "saloon", "suv", "hatchback", "coupe", "wagon", "estate", "cabriolet")
        + ("convertible", "crossover", "passenger", "taxi", "limousine", "automobile"),
        "car",
    ),
    **dict.fromkeys(("van", "minivan", "mpv", "panel"), "van"),
    **dict.fromkeys(
        ("truck", "lorry", "pickup", "hgv", "semi", "trailer", "tractor", "tanker", "dump"),
        "truck",
    ),
    **dict.fromkeys(("bus", "coach", "minibus", "autobus"), "bus"),
    **dict.fromkeys(("motorcycle", "motorbike", "moto", "scooter", "moped"), "motorcycle"),
}

_DIRECTIONS = {
    "": PlateEvent.Direction.UNKNOWN,
    "unknown": PlateEvent.Direction.UNKNOWN,
    **dict.fromkeys(("in", "entry", "enter", "entering", "approaching", "incoming"), "in"),
    **dict.fromkeys(("out", "exit", "exiting", "leaving", "departing", "outgoing"), "out"),
}

#: The text limits of the stored row, as the model declares them.
_MAX_LENGTH = {
    field.name: field.max_length for field in PlateEvent._meta.concrete_fields if field.max_length
}
_SOURCES = frozenset(PlateEvent.Source.values)
_IMAGE_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


def vehicle_type_normalize(raw: str) -> str:
    """A vendor's vehicle word on our small vocabulary: 'Pickup Truck' -> truck, 'SUV' -> car,
    anything unrecognised -> other, nothing -> ''."""
    word = raw.strip().lower()
    if not word:
        return ""
    if word in _VEHICLE_TYPES:
        return _VEHICLE_TYPES[word]
    for token in word.replace("-", " ").replace("_", " ").replace("/", " ").split():
        if token in _VEHICLE_TYPES:
            return _VEHICLE_TYPES[token]
    return PlateEvent.VehicleType.OTHER


def captured_at_parse(value) -> datetime:
    """An ISO 8601 string or a datetime, timezone-aware (a naive time is UTC).

    Raises ValueError with a sentence for the API.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("Use an ISO 8601 time, e.g. 2026-11-26T09:30:00Z.") from None
    elif not isinstance(value, datetime):
        raise ValueError("Use an ISO 8601 time string, e.g. 2026-11-26T09:30:00Z.")
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    return timestamp_check(value)


# --- Validation of one read -----------------------------------------------------------------


def _number(errors, name, value, *, low=None, high=None):
    """A finite int/float within bounds (a string or a bool is a wrong type)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors[name] = ["Must be a number."]
        return None
    value = float(value)
    if not math.isfinite(value):
        errors[name] = ["Must be a finite number."]
    elif (low is not None and value < low) or (high is not None and value > high):
        errors[name] = [f"Must be between {low:g} and {high:g} (got {value:g})."]
    return value


def _confidence(errors, name, value):
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 1:
        errors[name] = [f"Must be between 0 and 1 (got {value:g}); scores are not rescaled."]
        return None
    return _number(errors, name, value, low=0, high=1)


def _text(errors, name, value, column=None):
    """A stripped string within the model field's max_length (`column`: the field, when it
    is not `name`)."""
    max_length = _MAX_LENGTH[column or name]
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        errors[name] = ["Must be a string."]
        return ""
    value = value.strip()
    if len(value) > max_length:
        errors[name] = [f"At most {max_length} characters."]
    elif "\x00" in value:
        errors[name] = [_NUL]
    return value


#: PostgreSQL stores no NUL character in text or JSON; refused here rather than failing there.
_NUL = "Must not contain NUL characters."


def _json(errors, name, value):
    """Plain JSON the database will store and read back: no NaN or Infinity, no NUL, nothing
    unencodable, within the depth and size bounds (core/json_bounds.py; the encoding done
    here for NaN and NUL gives the size, and the nesting is walked only past MAX_DEPTH
    brackets)."""
    try:
        encoded = json.dumps(value, allow_nan=False)
    except RecursionError:
        errors[name] = [TOO_DEEP]
        return
    except (TypeError, ValueError):
        errors[name] = ["Must be plain JSON (no NaN or Infinity)."]
        return
    problem = json_bounds_error(value, encoded)
    if problem:
        errors[name] = [problem]
    elif "\\u0000" in encoded:
        errors[name] = [_NUL]


class ImageUnusable(Exception):
    """An image that cannot be read as a picture (not JPEG, PNG or WebP, empty, not base64):
    the read is stored without it, and its result says so in `warnings`."""


def image_check(image: ImageIn, name: str) -> tuple[bytes, str]:
    """(content, extension) of an image that Pillow recognises as JPEG, PNG or WebP within
    the byte and pixel limits. One too large raises ReadRejected (a 413: the device must send
    smaller ones, and a stored read would hide that); one that is no such picture raises
    ImageUnusable (the plate read is worth more than its broken picture)."""
    from PIL import Image, UnidentifiedImageError

    if not isinstance(image, ImageIn):
        raise ImageUnusable("images go in multipart files, not in the JSON")
    if image.error:
        raise ImageUnusable(image.error)
    content = image.content
    if not isinstance(content, bytes | bytearray) or not content:
        raise ImageUnusable("the image is empty")
    if len(content) > settings.EVENT_IMAGE_MAX_BYTES:
        raise ReadRejected(
            {name: [f"Image is larger than {settings.EVENT_IMAGE_MAX_BYTES} bytes."]},
            code="too_large",
        )
    limit = settings.EVENT_IMAGE_MAX_PIXELS
    too_many_pixels = f"The image is too large: more than {limit} pixels (width x height)."
    try:
        # open() reads the header only: the pixel count is checked before anything is decoded.
        with Image.open(io.BytesIO(content)) as picture:
            kind = picture.format
            width, height = picture.size
            if kind in _IMAGE_FORMATS and width * height <= limit:
                picture.verify()
    except Image.DecompressionBombError:  # Pillow's own limit, far above ours, at the header
        raise ReadRejected({name: [too_many_pixels]}, code="too_large") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ImageUnusable("not a JPEG, PNG or WebP image") from None
    if kind not in _IMAGE_FORMATS:
        raise ImageUnusable(f"{kind} images are not accepted; use JPEG, PNG or WebP")
    if width * height > limit:
        raise ReadRejected({name: [too_many_pixels]}, code="too_large")
    return bytes(content), _IMAGE_FORMATS[kind]


#: The columns an ingest writes, in PlateEvent's concrete field order (positional __init__).


@dataclass(slots=True)
class ValidRead:
    """A read that passed validation: the row to insert and the images to write."""

    row: list
    camera: Camera
    zone: Zone | None
    images: list[tuple[str, bytes]]  # (field name, content), already checked
    warnings: list[str]  # what is stored differently from what was sent (a picture left out)


def read_validate(
    read: ReadIn, *, device: EdgeDevice, cameras: DeviceCameras, now: datetime, camera=None
) -> ValidRead:
    """The row a read becomes, or ReadRejected naming every bad field. Plain Python on
    purpose: this runs for every read on the hot path."""
    errors: dict[str, list[str]] = {}

    plate_raw = read.plate
    plate = ""
    if plate_raw is None:
        errors["plate"] = ["This field is required."]
    elif not isinstance(plate_raw, str):
        errors["plate"] = ["Must be a string."]
    else:
        plate_raw = plate_raw.strip()
        plate = plate_normalize(plate_raw)
        if not plate:
            errors["plate"] = ["Must contain at least one letter or digit."]
        elif len(plate_raw) > _MAX_LENGTH["plate_raw"]:
            errors["plate"] = [f"At most {_MAX_LENGTH['plate_raw']} characters."]
        elif "\x00" in plate_raw:
            errors["plate"] = [_NUL]

    captured_at = None
    if read.captured_at is None or read.captured_at == "":
        errors["captured_at"] = ["This field is required."]
    else:
        try:
            captured_at = captured_at_parse(read.captured_at)
        except ValueError as error:
            errors["captured_at"] = [str(error)]
        else:
            limit = now + timedelta(seconds=settings.EVENT_FUTURE_TOLERANCE_SECONDS)
            if captured_at > limit:
                errors["captured_at"] = [
                    f"Is more than {settings.EVENT_FUTURE_TOLERANCE_SECONDS} seconds in the "
                    "future; check the device clock."
                ]
            elif captured_at < _EARLIEST:
                errors["captured_at"] = ["Is before 2000; check the device clock."]

    adopt = None  # the camera id to adopt once the rest of the read has passed
    if camera is None:
        try:
            camera = cameras.resolve(read.camera)
        except CameraUnknown as unknown:
            if unknown.adoptable:
                adopt = unknown.ref
            else:
                errors.update(unknown.errors)
        except ReadRejected as rejected:
            errors.update(rejected.errors)
    zone = None
    if camera is not None:
        try:
            zone = cameras.zone(camera, read.zone)
        except ReadRejected as rejected:
            errors.update(rejected.errors)
    if captured_at is not None and "captured_at" not in errors:
        # retention would delete it at the next purge: say so now (one comparison; the
        # camera's own period came with it)
        days = event_retention_days(camera)
        if days and captured_at < now - timedelta(days=days):
            errors["captured_at"] = [
                f"Is older than the retention period ({days} days): it would be deleted at "
                "the next purge; check the device clock or what it resends."
            ]

    event_id = read.event_id
    if isinstance(event_id, int) and not isinstance(event_id, bool):
        event_id = str(event_id)
    if not isinstance(event_id, str):
        errors["event_id"] = ["Must be a string."]
    elif len(event_id) > _MAX_LENGTH["idempotency_key"]:
        errors["event_id"] = [f"At most {_MAX_LENGTH['idempotency_key']} characters."]
    elif "\x00" in event_id:
        errors["event_id"] = [_NUL]

    confidence = _confidence(errors, "confidence", read.confidence)
    vehicle_type_raw = _text(errors, "vehicle_type", read.vehicle_type, "vehicle_type_raw")
    values = {
        "vehicle_type_confidence": _confidence(
            errors, "vehicle_type_confidence", read.vehicle_type_confidence
        ),
        "vehicle_color": _text(errors, "vehicle_color", read.vehicle_color),
        "vehicle_color_confidence": _confidence(
            errors, "vehicle_color_confidence", read.vehicle_color_confidence
        ),
        "vehicle_make": _text(errors, "vehicle_make", read.vehicle_make),
        "vehicle_make_confidence": _confidence(
            errors, "vehicle_make_confidence", read.vehicle_make_confidence
        ),
        "vehicle_model": _text(errors, "vehicle_model", read.vehicle_model),
        "vehicle_model_confidence": _confidence(
            errors, "vehicle_model_confidence", read.vehicle_model_confidence
        ),
        "country": _text(errors, "country", read.country),
        "region": _text(errors, "region", read.region),
        "heading": _number(errors, "heading", read.heading, low=0, high=360),
        "speed_kmh": _number(errors, "speed_kmh", read.speed_kmh, low=0, high=1000),
    }

    direction = read.direction
    if not isinstance(direction, str) or direction.strip().lower() not in _DIRECTIONS:
        errors["direction"] = ["Must be one of: in, out, unknown."]
        direction = PlateEvent.Direction.UNKNOWN
    else:
        direction = _DIRECTIONS[direction.strip().lower()]

    candidates = read.candidates if read.candidates is not None else []
    if not isinstance(candidates, list):
        errors["candidates"] = ["Must be a list."]
    elif candidates:
        _json(errors, "candidates", candidates)
    metadata = read.metadata if read.metadata is not None else {}
    if not isinstance(metadata, dict):
        errors["metadata"] = ["Must be a JSON object."]
    elif metadata:
        _json(errors, "metadata", metadata)
    plate_box = read.plate_box
    if plate_box is not None and not (
        isinstance(plate_box, list)
        and len(plate_box) == 4
        and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in plate_box
        )
    ):
        errors["plate_box"] = ["Must be four numbers [x1, y1, x2, y2]."]
    if read.source not in _SOURCES:
        errors["source"] = [f"Unknown source '{read.source}'."]

    images = []
    warnings = []
    code = "invalid"
    for name in ("plate_image", "frame_image"):
        image = getattr(read, name)
        if image is not None:
            try:
                images.append((name, *image_check(image, name)))
            except ImageUnusable as unusable:
                warnings.append(f"{name}: {unusable}; the read was stored without it.")
            except ReadRejected as rejected:
                errors.update(rejected.errors)
                code = rejected.code if code == "invalid" else code
    if errors:
        raise ReadRejected(errors, code)
    if adopt is not None:
        camera = cameras.adopt(adopt)
        zone = cameras.zone(camera, read.zone)

    if not event_id:
        digest = hashlib.sha256(
            f"{camera.pk}|{captured_at.astimezone(UTC).isoformat()}|{plate_raw}".encode()
        ).hexdigest()
        event_id = f"sha256:{digest}"

    event_uuid = time_ordered_uuid()
    row = [None] * len(FIELDS)
    row[INDEX["id"]] = event_uuid
    row[INDEX["device"]] = device.pk if device else None
    row[INDEX["idempotency_key"]] = event_id
    row[INDEX["camera"]] = camera.pk
    row[INDEX["zone"]] = zone.pk if zone else None
    row[INDEX["plate_raw"]] = plate_raw
    row[INDEX["plate"]] = plate
    row[INDEX["plate_key"]] = plate_confusion_key(plate)
    row[INDEX["candidates"]] = candidates
    row[INDEX["confidence"]] = confidence
    row[INDEX["captured_at"]] = captured_at
    row[INDEX["received_at"]] = now
    row[INDEX["updated_at"]] = now
    row[INDEX["vehicle_type"]] = vehicle_type_normalize(vehicle_type_raw)
    row[INDEX["vehicle_type_raw"]] = vehicle_type_raw
    row[INDEX["direction"]] = direction
    row[INDEX["plate_box"]] = plate_box
    row[INDEX["source"]] = read.source
    row[INDEX["metadata"]] = metadata
    for name, value in values.items():
        row[INDEX[name]] = value
    written = []
    for name, content, extension in images:
        row[INDEX[name]] = event_image_name(
            camera_slug=camera.slug,
            captured_at=captured_at.astimezone(UTC),
            event_id=event_uuid,
            kind=name.removesuffix("_image"),
            extension=extension,
        )
        written.append((name, content))
    for name in ("plate_image", "frame_image"):
        if row[INDEX[name]] is None:
            row[INDEX[name]] = ""
    return ValidRead(row=row, camera=camera, zone=zone, images=written, warnings=warnings)
