"""Writes of the events app: storing plate reads (the ingest hot path) and updating them.

Every entry point (native API, vendor dialects, the MQTT listener, the benchmark) maps its
input to `ReadIn` and calls `plate_events_ingest`, so one set of rules decides what is stored.
Validation is plain Python (microseconds per read); the rows of one call are written by one
statement in one transaction, and the unique (device, idempotency_key) constraint makes a
retry, even a concurrent one, return the first row's id instead of a second row.
"""

import hashlib
import io
import json
import math
import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import psycopg
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone

from anpr.ids import time_ordered_uuid
from anpr.json_bounds import TOO_DEEP, json_bounds_error
from anpr.metrics import ingest_observe
from anpr.timestamps import timestamp_check
from cameras.models import Camera, EdgeDevice, Zone
from cameras.selectors import cameras_of_device, device_cameras_cached
from cameras.services import device_touch
from exporters.selectors import exporters_for_planning
from exporters.services import deliveries_plan

from .broadcast import broadcast_event_update, broadcast_events
from .models import PlateEvent, event_image_name
from .reads import ImageIn, ReadIn, plate_confusion_key, plate_normalize

CREATED = "created"
DUPLICATE = "duplicate"
REJECTED = "rejected"


@dataclass(slots=True)
class IngestResult:
    """What became of one read: created (a new row), duplicate (the first row's id) or
    rejected (`errors` names each bad field; nothing was stored)."""

    status: str
    id: uuid.UUID | None = None
    errors: dict[str, list[str]] | None = None
    #: "too_large" when an image was refused for its size (the API answers 413), else "invalid".
    code: str = ""

    @property
    def created(self) -> bool:
        return self.status == CREATED


class ReadRejected(Exception):
    """A read that breaks our rules; `errors` is {field: [message]}."""

    def __init__(self, errors: dict[str, list[str]], code: str = "invalid"):
        super().__init__(errors)
        self.errors = errors
        self.code = code


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


class DeviceCameras:
    """The cameras of a device that a call's reads name (one query for all of them, not the
    device's whole list), and their zones (looked up only when a read names one). With the
    device cache (cameras/directory.py) one is built from all the device's cameras and kept
    with the device until something changes, zones included."""

    #: Cameras listed when a read without a camera is ambiguous.
    LISTED = 5

    def __init__(self, cameras: list[Camera], *, defaults: list[Camera] | None = None):
        self.cameras = cameras
        self.by_external_id = {c.external_id: c for c in cameras if c.external_id}
        self.by_slug = {c.slug: c for c in cameras}
        self.defaults = defaults  # the device's first cameras, when a read names none
        self._zones: dict[int, list[Zone]] | None = None
        # Whether any exporter is enabled, asked by the same query (None: no camera found).
        found = cameras or defaults or ()
        self.exporters_enabled: bool | None = (
            getattr(found[0], "exporters_enabled", None) if found else None
        )

    @classmethod
    def for_reads(cls, device: EdgeDevice, reads: list[ReadIn]) -> "DeviceCameras":
        cached = device_cameras_cached(device=device, build=lambda all_: cls(all_, defaults=all_))
        if cached is not None:
            return cached
        named = {
            str(read.camera)
            for read in reads
            if isinstance(read.camera, str | int) and not isinstance(read.camera, bool)
        }
        # A name no camera can have is not looked up (PostgreSQL refuses a NUL in a query):
        # resolve() answers "no camera …" for it.
        named = {name for name in named if name and "\x00" not in name}
        cameras = cameras_of_device(device=device, named=sorted(named)) if named else []
        defaults = None
        if any(read.camera is None or read.camera == "" for read in reads):
            defaults = cameras_of_device(device=device, limit=cls.LISTED + 1)
        return cls(cameras, defaults=defaults)

    def resolve(self, ref) -> Camera:
        """The vendor's camera id matched against external_id, then slug; none given means
        the device's only camera."""
        if ref is None or ref == "":
            defaults = self.defaults if self.defaults is not None else self.cameras
            if len(defaults) == 1:
                return defaults[0]
            if not defaults:
                raise ReadRejected({"camera": ["This device has no cameras assigned."]})
            listed = ", ".join(c.slug for c in defaults[: self.LISTED])
            more = ", …" if len(defaults) > self.LISTED else ""
            raise ReadRejected(
                {"camera": [f"Required: this device posts for several cameras ({listed}{more})."]}
            )
        if not isinstance(ref, str | int) or isinstance(ref, bool):
            raise ReadRejected({"camera": ["Must be a string (the camera's slug)."]})
        ref = str(ref)
        camera = self.by_external_id.get(ref) or self.by_slug.get(ref)
        if camera is None:
            raise ReadRejected({"camera": [f"No camera '{ref[:64]}' among this device's cameras."]})
        return camera

    def slug_of(self, ref) -> str | None:
        """The slug of the camera a reference names, as `resolve` finds it; None if none."""
        try:
            return self.resolve(ref).slug
        except ReadRejected:
            return None

    def zone(self, camera: Camera, ref) -> Zone | None:
        """The zone by name or id; it must belong to the camera."""
        if ref is None or ref == "":
            return None
        if self._zones is None:
            self._zones = {}
            cameras = {c.pk for c in self.cameras + (self.defaults or [])}
            for zone in Zone.objects.filter(camera_id__in=cameras):
                self._zones.setdefault(zone.camera_id, []).append(zone)
        zones = self._zones.get(camera.pk, ())
        if isinstance(ref, str):
            for zone in zones:
                if zone.name == ref:
                    return zone
        if (
            isinstance(ref, int)
            and not isinstance(ref, bool)
            or (isinstance(ref, str) and ref.isdigit())
        ):
            for zone in zones:
                if zone.pk == int(ref):
                    return zone
        if not isinstance(ref, str | int) or isinstance(ref, bool):
            raise ReadRejected({"zone": ["Must be the zone's name or id."]})
        raise ReadRejected({"zone": [f"Camera '{camera.slug}' has no zone '{str(ref)[:64]}'."]})


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


def _text(errors, name, value, max_length):
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
    unencodable, within the depth and size bounds (anpr/json_bounds.py; the encoding done
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


def image_check(image: ImageIn, name: str) -> tuple[bytes, str]:
    """(content, extension) of an image that Pillow recognises as JPEG, PNG or WebP within
    the byte and pixel limits; raises ReadRejected naming the field otherwise."""
    from PIL import Image, UnidentifiedImageError

    if not isinstance(image, ImageIn):
        raise ReadRejected({name: ["Send images as multipart files, not in the JSON."]})
    content = image.content
    if not isinstance(content, bytes | bytearray) or not content:
        raise ReadRejected({name: ["Empty or missing image content."]})
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
        raise ReadRejected({name: ["Not a JPEG, PNG or WebP image."]}) from None
    if kind not in _IMAGE_FORMATS:
        raise ReadRejected({name: [f"{kind} images are not accepted; use JPEG, PNG or WebP."]})
    if width * height > limit:
        raise ReadRejected({name: [too_many_pixels]}, code="too_large")
    return bytes(content), _IMAGE_FORMATS[kind]


#: The columns an ingest writes, in PlateEvent's concrete field order (positional __init__).
_FIELDS = PlateEvent._meta.concrete_fields
_COLUMNS = tuple(f.column for f in _FIELDS)
_INDEX = {f.name: i for i, f in enumerate(_FIELDS)}


@dataclass(slots=True)
class _Valid:
    """A read that passed validation: the row to insert and the images to write."""

    row: list
    camera: Camera
    zone: Zone | None
    images: list[tuple[str, bytes]]  # (field name, content), already checked


def read_validate(
    read: ReadIn, *, device: EdgeDevice, cameras: DeviceCameras, now: datetime, camera=None
) -> _Valid:
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
        elif len(plate_raw) > 32:
            errors["plate"] = ["At most 32 characters."]
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

    if camera is None:
        try:
            camera = cameras.resolve(read.camera)
        except ReadRejected as rejected:
            errors.update(rejected.errors)
    zone = None
    if camera is not None:
        try:
            zone = cameras.zone(camera, read.zone)
        except ReadRejected as rejected:
            errors.update(rejected.errors)

    event_id = read.event_id
    if isinstance(event_id, int) and not isinstance(event_id, bool):
        event_id = str(event_id)
    if not isinstance(event_id, str):
        errors["event_id"] = ["Must be a string."]
    elif len(event_id) > 128:
        errors["event_id"] = ["At most 128 characters."]
    elif "\x00" in event_id:
        errors["event_id"] = [_NUL]

    confidence = _confidence(errors, "confidence", read.confidence)
    vehicle_type_raw = _text(errors, "vehicle_type", read.vehicle_type, 64)
    values = {
        "vehicle_type_confidence": _confidence(
            errors, "vehicle_type_confidence", read.vehicle_type_confidence
        ),
        "vehicle_color": _text(errors, "vehicle_color", read.vehicle_color, 32),
        "vehicle_color_confidence": _confidence(
            errors, "vehicle_color_confidence", read.vehicle_color_confidence
        ),
        "vehicle_make": _text(errors, "vehicle_make", read.vehicle_make, 64),
        "vehicle_make_confidence": _confidence(
            errors, "vehicle_make_confidence", read.vehicle_make_confidence
        ),
        "vehicle_model": _text(errors, "vehicle_model", read.vehicle_model, 64),
        "vehicle_model_confidence": _confidence(
            errors, "vehicle_model_confidence", read.vehicle_model_confidence
        ),
        "country": _text(errors, "country", read.country, 8),
        "region": _text(errors, "region", read.region, 32),
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
    code = "invalid"
    for name in ("plate_image", "frame_image"):
        image = getattr(read, name)
        if image is not None:
            try:
                images.append((name, *image_check(image, name)))
            except ReadRejected as rejected:
                errors.update(rejected.errors)
                code = rejected.code if code == "invalid" else code
    if errors:
        raise ReadRejected(errors, code)

    if not event_id:
        digest = hashlib.sha256(
            f"{camera.pk}|{captured_at.astimezone(UTC).isoformat()}|{plate_raw}".encode()
        ).hexdigest()
        event_id = f"sha256:{digest}"

    event_uuid = time_ordered_uuid()
    row = [None] * len(_FIELDS)
    row[_INDEX["id"]] = event_uuid
    row[_INDEX["device"]] = device.pk if device else None
    row[_INDEX["idempotency_key"]] = event_id
    row[_INDEX["camera"]] = camera.pk
    row[_INDEX["zone"]] = zone.pk if zone else None
    row[_INDEX["plate_raw"]] = plate_raw
    row[_INDEX["plate"]] = plate
    row[_INDEX["plate_key"]] = plate_confusion_key(plate)
    row[_INDEX["candidates"]] = candidates
    row[_INDEX["confidence"]] = confidence
    row[_INDEX["captured_at"]] = captured_at
    row[_INDEX["received_at"]] = now
    row[_INDEX["updated_at"]] = now
    row[_INDEX["vehicle_type"]] = vehicle_type_normalize(vehicle_type_raw)
    row[_INDEX["vehicle_type_raw"]] = vehicle_type_raw
    row[_INDEX["direction"]] = direction
    row[_INDEX["plate_box"]] = plate_box
    row[_INDEX["source"]] = read.source
    row[_INDEX["metadata"]] = metadata
    for name, value in values.items():
        row[_INDEX[name]] = value
    written = []
    for name, content, extension in images:
        row[_INDEX[name]] = event_image_name(
            camera_slug=camera.slug,
            captured_at=captured_at.astimezone(UTC),
            event_id=event_uuid,
            kind=name.removesuffix("_image"),
            extension=extension,
        )
        written.append((name, content))
    for name in ("plate_image", "frame_image"):
        if row[_INDEX[name]] is None:
            row[_INDEX[name]] = ""
    return _Valid(row=row, camera=camera, zone=zone, images=written)


# --- Storing --------------------------------------------------------------------------------


def plate_events_ingest(*, device: EdgeDevice, reads: list[ReadIn]) -> list[IngestResult]:
    """Validate and store reads of one device; one result per read, in order.

    A bad read is rejected alone (its result names the fields); the others are stored in one
    transaction by one statement. A read whose idempotency key the device already used is a
    duplicate carrying the first row's id. Images are checked before the transaction and
    written inside it, and removed again if it rolls back.
    """
    started = time.perf_counter()
    now = timezone.now()
    cameras = DeviceCameras.for_reads(device, reads)
    results: list[IngestResult | None] = [None] * len(reads)
    valid: list[tuple[int, _Valid]] = []
    first_of_key: dict[str, int] = {}
    repeats: list[tuple[int, str]] = []
    key_index = _INDEX["idempotency_key"]
    for position, read in enumerate(reads):
        try:
            item = read_validate(read, device=device, cameras=cameras, now=now)
        except ReadRejected as rejected:
            results[position] = IngestResult(REJECTED, errors=rejected.errors, code=rejected.code)
            continue
        key = item.row[key_index]
        if key in first_of_key:
            repeats.append((position, key))  # the same read twice in one batch
            continue
        first_of_key[key] = position
        valid.append((position, item))

    if valid:
        stored = _events_store(
            device=device,
            items=[item for _, item in valid],
            exporters_enabled=cameras.exporters_enabled,
        )
        for (position, _), result in zip(valid, stored, strict=True):
            results[position] = result
        for position, key in repeats:
            results[position] = IngestResult(DUPLICATE, id=results[first_of_key[key]].id)
        device_touch(
            device=device, cameras=list({v.camera.pk: v.camera for _, v in valid}.values())
        )
    ingest_observe(
        reads=reads,
        results=results,
        camera_slug=cameras.slug_of,
        seconds=time.perf_counter() - started,
    )
    return results


def _events_store(
    *, device: EdgeDevice, items: list["_Valid"], exporters_enabled: bool | None = None
) -> list[IngestResult]:
    """The one transaction of an ingest: insert, write images, plan exports.

    On PostgreSQL, a single read with no exporter enabled and no image is one INSERT, atomic
    by itself: it runs without BEGIN/COMMIT (two round trips less on the hottest path).
    `exporters_enabled` False (asked along with the cameras) spares the exporters query."""
    written: list[str] = []
    exporters = exporters_for_planning() if exporters_enabled is not False else []
    lone_statement = (
        connection.vendor == "postgresql"
        and len(items) == 1
        and not exporters
        and not items[0].images
    )
    try:
        with nullcontext() if lone_statement else transaction.atomic():
            existing = _rows_insert(device=device, rows=[item.row for item in items])
            results = []
            created = []
            for item in items:
                row = item.row
                key = row[_INDEX["idempotency_key"]]
                if key in existing:
                    results.append(IngestResult(DUPLICATE, id=existing[key]))
                    continue
                for name, content in item.images:
                    _image_write(row[_INDEX[name]], content, written)
                event = PlateEvent(*row)
                event._state.adding = False
                event._state.db = "default"
                # Already loaded: no query for the slug and zone name of the live frame.
                event.camera = item.camera
                if item.zone is not None:
                    event.zone = item.zone
                created.append(event)
                results.append(IngestResult(CREATED, id=row[0]))
            # The outbox rows go in with the events; their tasks are queued after commit.
            deliveries_plan(events=created, exporters=exporters)
            # Live clients hear of the events once they are committed (robust: a channel
            # layer outage must not fail an ingest that is already stored).
            transaction.on_commit(lambda: broadcast_events(created), robust=True)
    except BaseException:
        _images_delete(written)
        raise
    return results


def _image_write(name: str, content: bytes, written: list[str]) -> None:
    saved = default_storage.save(name, ContentFile(content))
    written.append(saved)
    if saved != name:  # the storage renamed it (a name clash): never overwrite a file
        raise RuntimeError(f"Image name {name} is taken; refusing to overwrite it.")


def _images_delete(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)


def _rows_insert(*, device: EdgeDevice, rows: list[list]) -> dict[str, uuid.UUID]:
    """Insert the rows, skipping those whose (device, key) exists; returns {key: first id}
    for every skipped row (None if that row vanished meanwhile). One INSERT statement, plus
    one SELECT if any were skipped."""
    if connection.vendor == "postgresql":
        return _rows_insert_postgresql(device=device, rows=rows)
    return _rows_insert_generic(device=device, rows=rows)


_JSON_FIELDS = frozenset(i for i, f in enumerate(_FIELDS) if f.get_internal_type() == "JSONField")
_TABLE = PlateEvent._meta.db_table
#: The batch staging table: temporary (one per session, emptied at each commit), named after
#: the column list so that a session opened before a migration never copies into an old shape.
_STAGE = "anpr_event_stage_" + hashlib.sha256(" ".join(_COLUMNS).encode()).hexdigest()[:10]


@cache
def _pg_statements() -> dict[str, str]:
    """The PostgreSQL statements of `_rows_insert_postgresql` (built once)."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(c) for c in _COLUMNS)
    conflict = (
        f"ON CONFLICT ({quote('device_id')}, {quote('idempotency_key')}) DO NOTHING "
        f"RETURNING {quote('id')}"
    )
    values = ", ".join("%s::jsonb" if i in _JSON_FIELDS else "%s" for i in range(len(_FIELDS)))
    return {
        "one": f"INSERT INTO {quote(_TABLE)} ({columns}) VALUES ({values}) {conflict}",
        "stage": (
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} (LIKE {quote(_TABLE)}) "
            "ON COMMIT DELETE ROWS"
        ),
        "copy": f"COPY {_STAGE} ({columns}) FROM STDIN",
        # Emptying the stage in the same statement: a batch inside a caller's transaction
        # must not see the previous batch's rows. Rows go in ordered by the unique key, not
        # in the request's order: two batches sharing keys (a device's retry while the first
        # post still runs, perhaps reversed) then wait on each other's keys in one order,
        # never each on the other (a deadlock).
        "staged": f"WITH staged AS (DELETE FROM {_STAGE} RETURNING {columns}) "
        f"INSERT INTO {quote(_TABLE)} ({columns}) SELECT {columns} FROM staged "
        f"ORDER BY {quote('idempotency_key')} {conflict}",
    }


def _pg_values(row: list) -> list:
    """The row as PostgreSQL takes it: JSON fields as JSON text, None as NULL (as the ORM
    stores a JSONField's None), the rest as they are."""
    return [
        _json_text(value) if i in _JSON_FIELDS and value is not None else value
        for i, value in enumerate(row)
    ]


def _json_text(value) -> str:
    if value == [] or value == {}:  # most reads carry no candidates: no encoder call
        return "[]" if isinstance(value, list) else "{}"
    return json.dumps(value)


def _rows_insert_postgresql(*, device, rows) -> dict[str, uuid.UUID]:
    """One row: INSERT … VALUES … ON CONFLICT DO NOTHING RETURNING id. A batch: COPY into
    the session's staging table, then one statement moves them into the table with ON CONFLICT
    DO NOTHING RETURNING id (COPY formats rows in C; binding one array per column costs
    several times more)."""
    statements = _pg_statements()
    if len(rows) == 1:
        inserted = {row[0] for row in _prepared(statements["one"], _pg_values(rows[0]))}
    else:
        with connection.cursor() as cursor:
            cursor.execute(statements["stage"])
            with cursor.copy(statements["copy"]) as copy:
                for row in rows:
                    copy.write_row(_pg_values(row))
            cursor.execute(statements["staged"])
            inserted = {row[0] for row in cursor.fetchall()}
    if len(inserted) == len(rows):
        return {}
    skipped = [row[_INDEX["idempotency_key"]] for row in rows if row[0] not in inserted]
    first = _first_ids(device=device, keys=skipped)
    return {key: first.get(key) for key in skipped}


def _prepared(sql: str, params: list) -> list[tuple]:
    """Run a statement of the hot path as a prepared statement of this connection (psycopg's
    server-side binding): PostgreSQL parses and plans the single-read INSERT once per
    connection and shape of parameter types (a None, an int's size: a few shapes), not once per
    request, and no parameter is quoted into the text. psycopg prepares it again after a
    rollback. Django's cursors bind client-side; its error wrapping is kept."""
    database = connections[DEFAULT_DB_ALIAS]  # once: each access is a context lookup
    database.ensure_connection()
    with database.wrap_database_errors, psycopg.Cursor(database.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall()


def _rows_insert_generic(*, device, rows) -> dict[str, uuid.UUID]:
    """SQLite: INSERT … ON CONFLICT DO NOTHING for all rows (executemany), then the ids of
    the keys: a key whose id is not the one we generated was there before."""
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(_TABLE)} ({', '.join(quote(c) for c in _COLUMNS)}) "
        f"VALUES ({', '.join(['%s'] * len(_COLUMNS))}) "
        f"ON CONFLICT ({quote('device_id')}, {quote('idempotency_key')}) DO NOTHING"
    )
    prepared = [
        [
            field.get_db_prep_save(value, connection)
            for field, value in zip(_FIELDS, row, strict=True)
        ]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, prepared)
    key_index = _INDEX["idempotency_key"]
    first = _first_ids(device=device, keys=[row[key_index] for row in rows])
    return {
        row[key_index]: first.get(row[key_index])
        for row in rows
        if first.get(row[key_index]) != row[0]
    }


def _first_ids(*, device, keys: list[str]) -> dict[str, uuid.UUID]:
    return dict(
        PlateEvent.objects.filter(device=device, idempotency_key__in=keys).values_list(
            "idempotency_key", "id"
        )
    )


def plate_event_update(*, event: PlateEvent, read: ReadIn) -> PlateEvent:
    """Replace what a device re-read about an event it already reported (Frigate refines a
    tracked object while it is in view): plate, scores, vehicle, images and metadata change;
    the id, device, camera, idempotency key and capture time stay. Images given replace the
    old ones, whose files are removed after commit."""
    device = event.device
    now = timezone.now()
    cameras = DeviceCameras([event.camera])
    item = read_validate(read, device=device, cameras=cameras, now=now, camera=event.camera)
    row = item.row
    changes = {
        name: row[_INDEX[name]]
        for name in (
            "zone",
            "plate_raw",
            "plate",
            "plate_key",
            "candidates",
            "confidence",
            "country",
            "region",
            "vehicle_type",
            "vehicle_type_raw",
            "vehicle_type_confidence",
            "vehicle_color",
            "vehicle_color_confidence",
            "vehicle_make",
            "vehicle_make_confidence",
            "vehicle_model",
            "vehicle_model_confidence",
            "direction",
            "heading",
            "speed_kmh",
            "plate_box",
            "metadata",
        )
    }
    zone_id = changes.pop("zone")
    changes["zone_id"] = zone_id if read.zone else event.zone_id
    changes["updated_at"] = now
    replaced: list[str] = []
    written: list[str] = []
    try:
        with transaction.atomic():
            for name, content in item.images:
                new_name = event_image_name(
                    camera_slug=event.camera.slug,
                    captured_at=event.captured_at.astimezone(UTC),
                    event_id=f"{event.id}-{uuid.uuid4().hex[:8]}",
                    kind=name.removesuffix("_image"),
                    extension=row[_INDEX[name]].rsplit(".", 1)[-1],
                )
                _image_write(new_name, content, written)
                old = getattr(event, name).name
                if old:
                    replaced.append(old)
                changes[name] = new_name
            PlateEvent.objects.filter(pk=event.pk).update(**changes)
            transaction.on_commit(lambda: _images_delete(replaced))
            # Re-read after commit: the committed row, not this function's half-updated copy.
            transaction.on_commit(
                lambda: broadcast_event_update(
                    PlateEvent.objects.select_related("camera", "zone").get(pk=event.pk)
                ),
                robust=True,
            )
    except BaseException:
        _images_delete(written)
        raise
    for name, value in changes.items():
        setattr(event, name, value)
    if device:
        device_touch(device=device, cameras=[event.camera])
    return event


# --- Statistics rollup ----------------------------------------------------------------------

#: Events are re-rolled from this long before the last rollup: a transaction that stamped its
#: rows' updated_at before the last run but committed after it is still seen.
ROLLUP_OVERLAP = timedelta(minutes=5)


def _hour_runs(buckets: list[datetime], gap: timedelta = timedelta(hours=6)):
    """Sorted hour starts as (first, last) runs; hours less than `gap` apart share a run, so
    a late batch scattered over a day costs a few queries, not one per hour."""
    first = last = buckets[0]
    for bucket in buckets[1:]:
        if bucket - last > gap:
            yield first, last
            first = bucket
        last = bucket
    yield first, last


def event_statistics_rollup(*, everything: bool = False) -> int:
    """Recompute the hourly EventStatistics buckets that changed since the last run (events
    received or updated since then, whatever their capture time: late events re-roll their
    old buckets), or every bucket; with them the plate count sets of those hours, and the
    daily sums and plate count sets of the days holding them. Safe to run twice or
    concurrently; returns the number of hourly buckets recomputed."""
    from django.db.models import Count, F, Q, Sum
    from django.db.models.functions import Trunc

    from .models import EventDailyStatistics, EventStatistics, PlateCountSet
    from .plate_sets import day_start, local_hours, plate_sets_recompute, rollup_lock
    from .selectors import stats_zone

    started = timezone.now()
    tz = stats_zone()
    hour = Trunc("captured_at", "hour", tzinfo=tz)
    changed = PlateEvent.objects.all()
    if not everything:
        last = EventStatistics.objects.order_by("-rolled_at").values_list("rolled_at", flat=True)
        last = last.first()
        if last is not None:
            # updated_at >= cut, said so that indexes serve it: ingest stamps updated_at
            # and received_at alike, and only events updated in place (updated_at later)
            # are in the partial index on updated_at.
            cut = last - ROLLUP_OVERLAP
            changed = changed.filter(
                Q(received_at__gte=cut) | Q(updated_at__gte=cut, updated_at__gt=F("received_at"))
            )
    hours = changed.annotate(hour=hour).values_list("hour", flat=True).order_by().distinct()
    buckets = sorted(set(hours))
    if not buckets:
        return 0
    with transaction.atomic():
        rollup_lock()
        if everything:
            PlateCountSet.objects.all().delete()
            EventDailyStatistics.objects.all().delete()
        set_hours = []
        for first, last in _hour_runs(buckets):
            # Whole runs of hours by capture time (never by comparing the truncated hour,
            # which databases compare in different zones).
            end = last + timedelta(hours=1)
            EventStatistics.objects.filter(bucket__gte=first, bucket__lt=end).delete()
            rows = (
                PlateEvent.objects.filter(captured_at__gte=first, captured_at__lt=end)
                .annotate(hour=hour)
                .values("hour", "camera_id", "zone_id")
                .annotate(
                    count=Count("id"),
                    confidence_sum=Sum("confidence"),
                    confidence_count=Count("confidence"),
                )
                # In hour order, so that an hour's rows share pages: windows read by hour.
                .order_by("hour")
            )
            EventStatistics.objects.bulk_create(
                EventStatistics(
                    bucket=row["hour"],
                    camera_id=row["camera_id"],
                    zone_id=row["zone_id"],
                    event_count=row["count"],
                    confidence_sum=row["confidence_sum"] or 0.0,
                    confidence_count=row["confidence_count"],
                    rolled_at=started,
                )
                for row in rows
            )
            set_hours += local_hours(first, end, tz)
        days = plate_sets_recompute(hours=set_hours, tz=tz, rolled_at=started)
        for day in days:
            # The days holding those hours, added up from their hours.
            first, end = day_start(day, tz), day_start(day + timedelta(days=1), tz)
            EventDailyStatistics.objects.filter(day=first).delete()
            EventDailyStatistics.objects.bulk_create(
                EventDailyStatistics(day=first, **row)
                for row in EventStatistics.objects.filter(bucket__gte=first, bucket__lt=end)
                .values("camera_id", "zone_id")
                .annotate(
                    event_count=Sum("event_count"),
                    confidence_sum=Sum("confidence_sum"),
                    confidence_count=Sum("confidence_count"),
                )
                .order_by()
            )
        if everything:
            EventStatistics.objects.exclude(rolled_at=started).delete()
    return len(buckets)
