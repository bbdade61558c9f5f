"""`benchmark fill`: the benchmark's cameras, device and viewer, and realistic events up to a
count (COPY on PostgreSQL, the storage service's own INSERT elsewhere), then the rollup."""

import json
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import Group
from django.core.management.base import OutputWrapper
from django.db import connection, transaction

from cameras.models import Camera, EdgeDevice, Zone
from core.ids import time_ordered_uuid
from events.models import EventDailyStatistics, EventStatistics, PlateCountSet, PlateEvent
from events.reads import plate_confusion_key
from events.services import storage
from events.services.rollup import event_statistics_rollup
from events.services.validation import vehicle_type_normalize

CAMERAS = 200
DEVICE_NAME = "bench-device"
VIEWER_NAME = "bench-viewer"
_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
_DIGITS = "0123456789"
_TYPES = ("Sedan", "SUV", "Van", "Pickup Truck", "Big Truck", "Bus", "Motorcycle")
_COLORS = ("silver", "black", "white", "blue", "red", "grey")
_MAKES = (("Toyota", "Corolla"), ("Ford", "Transit"), ("Volkswagen", "Golf"), ("BMW", "320d"))


@dataclass(frozen=True)
class BenchmarkSite:
    """What every benchmark step works with: the cameras bench-cam-NNN, one device that owns
    them all, and a viewer who queries."""

    cameras: list[Camera]
    device: EdgeDevice
    viewer: AbstractBaseUser


def benchmark_site_ensure() -> BenchmarkSite:
    """The benchmark's cameras (half of them with a zone), device and viewer, made once."""
    cameras = list(Camera.objects.filter(slug__startswith="bench-cam-").order_by("slug"))
    if len(cameras) < CAMERAS:
        have = {c.slug for c in cameras}
        Camera.objects.bulk_create(
            Camera(
                slug=f"bench-cam-{n:03d}",
                name=f"Benchmark camera {n}",
                latitude=51.5 + n / 1000,
                longitude=-0.12 - n / 1000,
            )
            for n in range(1, CAMERAS + 1)
            if f"bench-cam-{n:03d}" not in have
        )
        cameras = list(Camera.objects.filter(slug__startswith="bench-cam-").order_by("slug"))
        square = {
            "type": "Polygon",
            "coordinates": [[[0, 0], [0.001, 0], [0.001, 0.001], [0, 0.001], [0, 0]]],
        }
        Zone.objects.bulk_create(
            [Zone(camera=c, name="Lane 1", geometry=square) for c in cameras[::2]],
            ignore_conflicts=True,
        )
    device, _ = EdgeDevice.objects.get_or_create(name=DEVICE_NAME)
    device.cameras.add(*cameras)
    viewer, created = get_user_model().objects.get_or_create(username=VIEWER_NAME)
    if created:
        viewer.set_unusable_password()
        viewer.save()
        viewer.groups.add(Group.objects.get(name="viewer"))
    return BenchmarkSite(cameras=cameras, device=device, viewer=viewer)


def plate_invented(rng: random.Random) -> str:
    """UK 'AB12CDE', EU-ish 'AB1234C', US-ish '7ABC123' and '1234XYZ' formats."""
    r = rng.random()

    def letters(n):
        return "".join(rng.choice(_LETTERS) for _ in range(n))

    def digits(n):
        return "".join(rng.choice(_DIGITS) for _ in range(n))

    if r < 0.45:
        return letters(2) + digits(2) + letters(3)
    if r < 0.70:
        return letters(2) + digits(4) + letters(1)
    if r < 0.90:
        return digits(1) + letters(3) + digits(3)
    return digits(4) + letters(3)


def events_fill(
    *, site: BenchmarkSite, target: int, days: int, rng: random.Random, stdout: OutputWrapper
) -> str | None:
    """Add events until `target` are stored, captured over the last `days` from a pool of
    plates that recur; then vacuum and roll up the statistics. The summary line, or None if
    nothing was missing."""
    have = PlateEvent.objects.count()
    missing = target - have
    stdout.write(f"== fill: {have} events stored, {max(missing, 0)} to add")
    if missing <= 0:
        return None
    zones = dict(Zone.objects.filter(camera__in=site.cameras).values_list("camera_id", "id"))
    pool = [plate_invented(rng) for _ in range(max(1000, target // 5))]
    now = datetime.now(UTC)
    started = time.perf_counter()
    rows = (
        _row(rng=rng, site=site, zones=zones, pool=pool, now=now, days=days) for _ in range(missing)
    )
    if connection.vendor == "postgresql":
        _rows_copy(rows)
    else:
        chunk = []
        for row in rows:
            chunk.append(row)
            if len(chunk) == 5000:
                with transaction.atomic():
                    storage.rows_insert(device=site.device, rows=chunk)
                chunk = []
        if chunk:
            with transaction.atomic():
                storage.rows_insert(device=site.device, rows=chunk)
    elapsed = time.perf_counter() - started
    stdout.write(f"   added {missing} events in {elapsed:.1f} s ({missing / elapsed:,.0f}/s)")
    started = time.perf_counter()
    if connection.vendor == "postgresql":
        # What autovacuum does to a table in steady state: statistics and the visibility map
        # (index-only scans).
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {PlateEvent._meta.db_table}")
    buckets = event_statistics_rollup(everything=True)
    if connection.vendor == "postgresql":
        # The same for the tables the rollup has just rewritten.
        with connection.cursor() as cursor:
            for model in (EventStatistics, EventDailyStatistics, PlateCountSet):
                cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
    stdout.write(f"   rolled up {buckets} hourly buckets in {time.perf_counter() - started:.1f} s")
    return f"{missing} events added at {missing / elapsed:,.0f}/s"


def _row(*, rng, site, zones, pool, now, days) -> list:
    """One event's values in the order of storage.FIELDS."""
    camera = rng.choice(site.cameras)
    plate = rng.choice(pool)
    captured = now - timedelta(seconds=rng.random() * days * 86400)
    received = captured + timedelta(milliseconds=rng.randint(50, 3000))
    kind = rng.choice(_TYPES)
    make, model = rng.choice(_MAKES)
    x, y = rng.randint(0, 1600), rng.randint(0, 900)
    values = {
        "id": time_ordered_uuid(),
        "device": site.device.pk,
        "idempotency_key": uuid.uuid4().hex,
        "camera": camera.pk,
        "zone": zones.get(camera.pk) if rng.random() < 0.7 else None,
        "plate_raw": plate,
        "plate": plate,
        "plate_key": plate_confusion_key(plate),
        "candidates": [],
        "confidence": round(rng.uniform(0.55, 0.999), 3),
        "country": "GB",
        "region": "",
        "captured_at": captured,
        "received_at": received,
        "updated_at": received,
        "vehicle_type": vehicle_type_normalize(kind),
        "vehicle_type_raw": kind,
        "vehicle_type_confidence": round(rng.uniform(0.5, 1), 3),
        "vehicle_color": rng.choice(_COLORS),
        "vehicle_color_confidence": None,
        "vehicle_make": make,
        "vehicle_make_confidence": None,
        "vehicle_model": model,
        "vehicle_model_confidence": None,
        "direction": rng.choice(("in", "out", "unknown")),
        "heading": None,
        "speed_kmh": round(rng.uniform(5, 110), 1),
        "plate_box": [x, y, x + rng.randint(120, 260), y + rng.randint(30, 70)],
        "plate_image": "",
        "frame_image": "",
        "source": "native",
        "metadata": {"lane": rng.randint(1, 4)},
    }
    return [values[f.name] for f in storage.FIELDS]


def _rows_copy(rows) -> None:
    """COPY FROM STDIN through psycopg's own cursor: the fastest way in on PostgreSQL."""
    table = PlateEvent._meta.db_table
    columns = ", ".join(connection.ops.quote_name(c) for c in storage.COLUMNS)
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                for i in storage.JSON_FIELDS:
                    row[i] = json.dumps(row[i])
                copy.write_row(row)
