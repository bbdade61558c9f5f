"""What edge devices report: plate reads, and the rollups that statistics are drawn from."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from cameras.models import Camera, EdgeDevice, Zone
from core.ids import time_ordered_uuid
from core.json_bounds import BoundedJSONField


def event_image_name(*, camera_slug: str, captured_at, event_id, kind: str, extension: str) -> str:
    """events/<camera slug>/<yyyy>/<mm>/<dd>/<event id>-<kind>.<ext>: one folder per camera
    and day, so retention and backups can work folder by folder."""
    return f"events/{camera_slug}/{captured_at:%Y/%m/%d}/{event_id}-{kind}.{extension}"


def _image_path(event: "PlateEvent", filename: str, kind: str) -> str:
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else "jpg"
    return event_image_name(
        camera_slug=event.camera.slug if event.camera_id else "unknown",
        captured_at=event.captured_at or timezone.now(),
        event_id=event.id,
        kind=kind,
        extension=extension,
    )


def plate_image_path(event, filename):
    return _image_path(event, filename, "plate")


def frame_image_path(event, filename):
    return _image_path(event, filename, "frame")


class PlateEvent(models.Model):
    """One plate read by one camera at one moment (a vehicle passing)."""

    class Source(models.TextChoices):
        NATIVE = "native", "Native API"
        PLATERECOGNIZER = "platerecognizer", "Plate Recognizer"
        OPENALPR = "openalpr", "OpenALPR / Rekor"
        FRIGATE = "frigate", "Frigate"

    class VehicleType(models.TextChoices):
        CAR = "car", "Car"
        VAN = "van", "Van"
        TRUCK = "truck", "Truck"
        BUS = "bus", "Bus"
        MOTORCYCLE = "motorcycle", "Motorcycle"
        OTHER = "other", "Other"

    class Direction(models.TextChoices):
        IN = "in", "In"
        OUT = "out", "Out"
        UNKNOWN = "unknown", "Unknown"

    id = models.UUIDField(primary_key=True, default=time_ordered_uuid, editable=False)
    # No single-column indexes on the foreign keys: the composite indexes below start with
    # them, and every index costs each ingest.
    device = models.ForeignKey(
        EdgeDevice,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="events",
        db_index=False,
    )
    idempotency_key = models.CharField(
        max_length=128,
        help_text="The device's event id, or a digest of camera + capture time + plate.",
    )
    camera = models.ForeignKey(
        Camera, on_delete=models.PROTECT, related_name="events", db_index=False
    )
    zone = models.ForeignKey(
        Zone,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="events",
        db_index=False,
    )
    plate_raw = models.CharField(max_length=32, help_text="The plate as the camera read it.")
    plate = models.CharField(max_length=32, help_text="Upper-case letters and digits only.")
    plate_key = models.CharField(
        max_length=32, help_text="The plate with OCR-confusable characters folded together."
    )
    candidates = BoundedJSONField(default=list, blank=True)
    confidence = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(1)]
    )
    country = models.CharField(max_length=8, blank=True)
    region = models.CharField(max_length=32, blank=True)
    captured_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    vehicle_type = models.CharField(max_length=16, choices=VehicleType.choices, blank=True)
    vehicle_type_raw = models.CharField(max_length=64, blank=True)
    vehicle_type_confidence = models.FloatField(null=True, blank=True)
    vehicle_color = models.CharField(max_length=32, blank=True)
    vehicle_color_confidence = models.FloatField(null=True, blank=True)
    vehicle_make = models.CharField(max_length=64, blank=True)
    vehicle_make_confidence = models.FloatField(null=True, blank=True)
    vehicle_model = models.CharField(max_length=64, blank=True)
    vehicle_model_confidence = models.FloatField(null=True, blank=True)
    direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.UNKNOWN)
    heading = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(360)]
    )
    speed_kmh = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0)])
    plate_box = BoundedJSONField(
        null=True, blank=True, help_text="Plate bounding box [x1, y1, x2, y2] in pixels."
    )
    plate_image = models.ImageField(upload_to=plate_image_path, blank=True, max_length=300)
    frame_image = models.ImageField(upload_to=frame_image_path, blank=True, max_length=300)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.NATIVE)
    metadata = BoundedJSONField(default=dict, blank=True)

    class Meta:
        ordering = ("-captured_at",)
        constraints = [
            models.UniqueConstraint(
                fields=("device", "idempotency_key"), name="plate_event_idempotent_per_device"
            ),
        ]
        # Every index costs each ingest, so only the API's filters that would otherwise walk
        # much of the table have one, each also serving the keyset order (captured_at, id) so
        # deep cursor pages stay an index range scan: camera, zone and device (also used by
        # their deletes), plate (exact and prefix; also by retention forgetting plates),
        # received_at (live map catch-up, rollup).
        # The rollup also finds events updated in place by updated_at, indexed only where it
        # differs from received_at (ingest stamps both alike), so ingest adds no entry.
        # vehicle_type, direction, source and min_confidence walk the time index instead: their
        # matches are common, so a page is found within a few hundred rows (min_confidence=0.99
        # at 1M events: 20 ms). On PostgreSQL, migration 0003 adds a trigram GIN index on
        # plate_key (OCR-tolerant search, also its key lookups); SQLite has none and scans.
        indexes = [
            models.Index(fields=("-captured_at", "-id"), name="event_captured"),
            models.Index(fields=("camera", "-captured_at", "-id"), name="event_camera_captured"),
            # Only events that have a zone: the others would cost each ingest for nothing.
            models.Index(
                fields=("zone", "-captured_at", "-id"),
                condition=models.Q(zone__isnull=False),
                name="event_zoned_captured",
            ),
            models.Index(fields=("device", "-captured_at", "-id"), name="event_device_captured"),
            # One index for plate= and plate_prefix (LIKE 'AB%'): the database collation is
            # not C, so prefixes need the pattern operators (PostgreSQL; elsewhere ignored).
            models.Index(
                fields=("plate", "-captured_at"),
                opclasses=("varchar_pattern_ops", ""),
                name="event_plate",
            ),
            models.Index(fields=("received_at",), name="event_received"),
            models.Index(
                fields=("updated_at",),
                condition=models.Q(updated_at__gt=models.F("received_at")),
                name="event_updated_in_place",
            ),
        ]

    def __str__(self):
        return f"{self.plate} @ {self.camera_id} {self.captured_at:%Y-%m-%d %H:%M:%S}"


# --- Retention (added by operations; the purge lives in events/services/retention.py) ----------


class PurgeRun(models.Model):
    """One retention run (nightly or by hand): when it ran and what it removed."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Nightly schedule"
        COMMAND = "command", "manage.py purge_events"

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    options = models.JSONField(
        default=dict, blank=True, help_text="Cut-offs and options this run used."
    )
    events_deleted = models.PositiveIntegerField(default=0)
    deliveries_deleted = models.PositiveIntegerField(default=0)
    events_held = models.PositiveIntegerField(
        default=0, help_text="Events past their retention kept for deliveries still open."
    )
    images_cleared = models.PositiveIntegerField(
        default=0, help_text="Events whose images were removed (the rows stay)."
    )
    files_deleted = models.PositiveIntegerField(default=0)
    orphan_files_deleted = models.PositiveIntegerField(default=0)
    plates_forgotten = models.PositiveIntegerField(
        default=0, help_text="Plates no event holds any more, deleted from the statistics."
    )
    steps = models.JSONField(
        default=dict,
        blank=True,
        help_text="What other apps' purge steps deleted, by step (hits: watchlists' hits).",
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ("-started_at",)
        indexes = [models.Index(fields=("-started_at",), name="purge_run_started")]

    def __str__(self):
        return f"Purge {self.started_at:%Y-%m-%d %H:%M} ({self.events_deleted} events)"


class StatisticsSums(models.Model):
    """The sums of a period's events at one camera and zone (the hourly and daily rollups)."""

    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="+")
    zone = models.ForeignKey(
        Zone, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    event_count = models.PositiveIntegerField(default=0)
    confidence_sum = models.FloatField(default=0)
    confidence_count = models.PositiveIntegerField(
        default=0, help_text="Events that carried a confidence (the divisor of the average)."
    )

    class Meta:
        abstract = True


class EventStatistics(StatisticsSums):
    """Sums of one hour's events at one camera and zone, the rollup that charts read."""

    bucket = models.DateTimeField(help_text="Start of the hour, in the TIME_ZONE setting.")
    rolled_at = models.DateTimeField(help_text="When the bucket was last recomputed.")

    class Meta:
        ordering = ("-bucket",)
        verbose_name_plural = "event statistics"
        indexes = [
            models.Index(fields=("bucket", "camera"), name="stats_bucket_camera"),
            models.Index(fields=("camera", "bucket"), name="stats_camera_bucket"),
            models.Index(fields=("rolled_at",), name="stats_rolled"),
        ]

    def __str__(self):
        return f"{self.bucket:%Y-%m-%d %H:00} camera {self.camera_id}: {self.event_count}"


class EventDailyStatistics(StatisticsSums):
    """Sums of one local day's events at one camera and zone: the hourly rollup added up, so
    a month's per-zone figures are 30 rows per zone rather than 720."""

    day = models.DateTimeField(help_text="The local midnight (TIME_ZONE) the day starts at.")

    class Meta:
        ordering = ("-day",)
        verbose_name_plural = "event daily statistics"
        indexes = [models.Index(fields=("day", "camera"), name="daily_stats_day_camera")]

    def __str__(self):
        return f"{self.day:%Y-%m-%d} camera {self.camera_id}: {self.event_count}"


# --- Plate statistics (distinct and top plates without reading the events) ------------------


class StatisticsPlate(models.Model):
    """A plate the statistics know by number: its id is its bit in the plate count sets."""

    # Ids are handed out by the rollup (only to plates it has not seen, so none is burnt on a
    # conflict) and never reused; retention deletes the rows of plates with no event left.
    plate = models.CharField(max_length=32, unique=True)

    def __str__(self):
        return f"{self.id}: {self.plate}"


class PlateCountSet(models.Model):
    """How often each plate was read in one hour or one local day (all cameras), as bit
    slices over StatisticsPlate ids: what distinct and top plates are added up from."""

    class Period(models.TextChoices):
        HOUR = "hour", "Hour"
        DAY = "day", "Day"

    period = models.CharField(max_length=4, choices=Period.choices)
    start = models.DateTimeField(help_text="Start of the hour, or the local midnight of the day.")
    event_count = models.PositiveIntegerField(default=0)
    confidence_sum = models.FloatField(default=0)
    confidence_count = models.PositiveIntegerField(default=0)
    plate_count = models.PositiveIntegerField(default=0, help_text="Distinct plates.")
    depth = models.PositiveSmallIntegerField(
        default=0, help_text="Bit slices: slice i holds the plates whose count has bit i set."
    )
    slices = models.BinaryField(
        help_text="The slices, each a little-endian bitset of the same width, zlib-compressed."
    )
    rolled_at = models.DateTimeField(help_text="When the set was last recomputed.")

    class Meta:
        ordering = ("period", "-start")
        constraints = [
            # Also the index of the window reads (period = ..., start in a range).
            models.UniqueConstraint(fields=("period", "start"), name="plate_count_set_unique"),
        ]

    def __str__(self):
        return f"{self.period} {self.start:%Y-%m-%d %H:%M}: {self.plate_count} plates"
