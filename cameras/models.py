"""What operators configure (cameras, zones, models, sensors) and who may talk to us
(edge devices and their keys, users' API tokens)."""

import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, router
from django.db.models import Q

from core.ids import ascii_integer
from core.json_bounds import BoundedJSONField

from .validators import validate_geojson_area, validate_image_polygon


class ConstraintErrorsOnFields(models.Model):
    """Reports a violated constraint on the field the user must change (`constraint_fields`:
    constraint name -> field), so the admin and the API point at it; Django puts errors of
    multi-field and conditional constraints on the whole row."""

    constraint_fields: dict[str, str] = {}

    class Meta:
        abstract = True

    def validate_constraints(self, exclude=None):
        using = router.db_for_write(type(self), instance=self)
        errors: dict[str, list] = {}
        for model_class, constraints in self.get_constraints():
            for constraint in constraints:
                try:
                    constraint.validate(model_class, self, exclude=exclude, using=using)
                except ValidationError as error:
                    field = self.constraint_fields.get(constraint.name, NON_FIELD_ERRORS)
                    errors.setdefault(field, []).extend(error.error_list)
        if errors:
            raise ValidationError(errors)


#: The longest retention a camera may ask (a century): far past it, a cut-off date would be
#: before year 1 and could not be computed (watchlists' HIT_RETENTION_MAX_DAYS is this one).
RETENTION_DAYS_MAX = 36_500


class Camera(models.Model):
    """A camera that reads plates, placed on the map."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        INACTIVE = "inactive", "Inactive"
        MAINTENANCE = "maintenance", "Maintenance"

    slug = models.SlugField(max_length=64, unique=True, help_text="How devices name this camera.")
    external_id = models.CharField(
        max_length=128,
        null=True,
        blank=True,
        db_index=True,
        help_text="The camera's id in the vendor's own payloads, if it differs from the slug "
        "(unique among each device's cameras: two devices may both call a camera 'front').",
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    latitude = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(-90), MaxValueValidator(90)]
    )
    longitude = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(-180), MaxValueValidator(180)]
    )
    heading = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(359)],
        help_text="Direction the camera faces, in degrees from north (0..359).",
    )
    address = models.CharField(max_length=300, blank=True)
    stream_url = models.CharField(
        max_length=500,
        blank=True,
        help_text="RTSP/HTTP stream address without credentials.",
    )
    stream_username = models.CharField(max_length=200, blank=True)
    stream_password = models.CharField(max_length=200, blank=True)
    resolution = models.CharField(
        max_length=16, blank=True, help_text="Width x height in pixels, e.g. 1920x1080."
    )
    fps = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(240)]
    )
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(RETENTION_DAYS_MAX)],
        help_text="Keep this camera's events this many days (overrides EVENT_RETENTION_DAYS).",
    )
    last_seen_at = models.DateTimeField(null=True, blank=True, editable=False)
    metadata = BoundedJSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)
        indexes = [models.Index(fields=("status",))]

    def __str__(self):
        return f"{self.name} ({self.slug})"

    def clean(self):
        if self.pk and self.external_id:
            other = (
                Camera.objects.filter(devices__cameras=self, external_id=self.external_id)
                .exclude(pk=self.pk)
                .first()
            )
            if other is not None:
                raise ValidationError(
                    {"external_id": f"Camera {other.slug} of the same device has this vendor id."}
                )
        if (self.latitude is None) != (self.longitude is None):
            missing = "longitude" if self.longitude is None else "latitude"
            raise ValidationError(
                {missing: "Latitude and longitude go together: set both or neither."}
            )
        if self.resolution and not _is_resolution(self.resolution):
            raise ValidationError({"resolution": "Use WIDTHxHEIGHT, e.g. 1920x1080."})
        if self.stream_url and "@" in self.stream_url.split("//", 1)[-1].split("/", 1)[0]:
            raise ValidationError(
                {
                    "stream_url": "Put credentials in stream_username/stream_password, "
                    "not in the URL."
                }
            )
        if not isinstance(self.metadata, dict):
            raise ValidationError({"metadata": "Must be a JSON object."})

    @property
    def has_stream_credentials(self) -> bool:
        return bool(self.stream_username or self.stream_password)

    def stream_url_with_credentials(self) -> str:
        """The stream URL as the edge device needs it (credentials embedded)."""
        if not self.stream_url or not self.has_stream_credentials:
            return self.stream_url
        from urllib.parse import quote

        scheme, _, rest = self.stream_url.partition("://")
        userinfo = quote(self.stream_username, safe="")
        if self.stream_password:
            userinfo += ":" + quote(self.stream_password, safe="")
        return f"{scheme}://{userinfo}@{rest}"


def _is_resolution(value: str) -> bool:
    width, sep, height = value.lower().partition("x")
    width, height = ascii_integer(width), ascii_integer(height)
    return bool(sep) and width is not None and height is not None and width > 0 < height


class Zone(ConstraintErrorsOnFields):
    """An area watched by one camera: its footprint on the map and its region in the picture."""

    class Kind(models.TextChoices):
        ENTRY = "entry", "Entry"
        EXIT = "exit", "Exit"
        PARKING = "parking", "Parking"
        RESTRICTED = "restricted", "Restricted"
        DETECTION = "detection", "Detection"
        OTHER = "other", "Other"

    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="zones")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.DETECTION)
    geometry = BoundedJSONField(
        validators=[validate_geojson_area],
        help_text='GeoJSON Polygon or MultiPolygon in WGS84, e.g. {"type": "Polygon", '
        '"coordinates": [[[lon, lat], ...]]}.',
    )
    roi = BoundedJSONField(
        null=True,
        blank=True,
        validators=[validate_image_polygon],
        help_text="Optional detection region in the picture: a GeoJSON Polygon in normalized "
        "image coordinates (0..1, origin top-left).",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    constraint_fields = {"zone_name_unique_per_camera": "name"}

    class Meta:
        ordering = ("camera_id", "name")
        constraints = [
            models.UniqueConstraint(
                fields=("camera", "name"),
                name="zone_name_unique_per_camera",
                violation_error_message="This camera already has a zone with this name.",
            )
        ]
        indexes = [models.Index(fields=("kind",))]

    def __str__(self):
        return f"{self.name} ({self.camera.slug})" if self.camera_id else self.name


class ModelConfig(ConstraintErrorsOnFields):
    """One version of an AI model (detector, OCR, classifier) that edge devices run."""

    class Task(models.TextChoices):
        DETECTOR = "detector", "Plate detector"
        OCR = "ocr", "OCR"
        CLASSIFIER = "classifier", "Vehicle classifier"
        TRACKER = "tracker", "Tracker"
        OTHER = "other", "Other"

    name = models.CharField(max_length=100)
    version = models.CharField(max_length=40, help_text="Semantic version, e.g. 1.4.2.")
    task = models.CharField(max_length=16, choices=Task.choices)
    framework = models.CharField(max_length=40, blank=True, help_text="e.g. onnx, tflite.")
    artifact_url = models.URLField(max_length=500, blank=True)
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    parameters = BoundedJSONField(default=dict, blank=True, help_text="Thresholds and the like.")
    is_active = models.BooleanField(
        default=False,
        help_text="The version devices run. At most one per model name; activating a version "
        "deactivates the previous one.",
    )
    release_notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    constraint_fields = {
        "model_config_version_unique": "version",
        "model_config_one_active": "is_active",
    }

    class Meta:
        ordering = ("name", "-created_at")
        constraints = [
            models.UniqueConstraint(
                fields=("name", "version"),
                name="model_config_version_unique",
                violation_error_message="This model already has this version.",
            ),
            models.UniqueConstraint(
                fields=("name",),
                condition=Q(is_active=True),
                name="model_config_one_active",
                violation_error_message="Another version of this model is already active.",
            ),
        ]

    def __str__(self):
        return f"{self.name} {self.version}"

    def clean(self):
        if self.version and not _is_semver(self.version):
            raise ValidationError({"version": "Use a semantic version such as 1.4.2."})
        if self.artifact_sha256 and not (
            len(self.artifact_sha256) == 64
            and all(c in "0123456789abcdef" for c in self.artifact_sha256.lower())
        ):
            raise ValidationError({"artifact_sha256": "Must be 64 hexadecimal characters."})
        if not isinstance(self.parameters, dict):
            raise ValidationError({"parameters": "Must be a JSON object."})


def _is_semver(value: str) -> bool:
    core = value.split("-", 1)[0].split("+", 1)[0]
    parts = core.split(".")
    return len(parts) == 3 and all(ascii_integer(part) is not None for part in parts)


class SensorSettings(models.Model):
    """How a camera's edge device detects: model, threshold, intervals, what images to send."""

    class ImagePolicy(models.TextChoices):
        NONE = "none", "No images"
        PLATE_CROP = "plate_crop", "Plate crop"
        FULL_FRAME = "full_frame", "Full frame"

    camera = models.ForeignKey(Camera, on_delete=models.PROTECT, related_name="sensor_settings")
    zone = models.ForeignKey(
        Zone, on_delete=models.SET_NULL, null=True, blank=True, related_name="sensor_settings"
    )
    model_config = models.ForeignKey(
        ModelConfig,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="sensor_settings",
        help_text="The model to run. Devices are sent its active version, so activating a new "
        "version rolls it out to every sensor using the model.",
    )
    confidence_threshold = models.FloatField(
        default=0.7, validators=[MinValueValidator(0), MaxValueValidator(1)]
    )
    capture_interval_ms = models.PositiveIntegerField(
        default=200, validators=[MinValueValidator(10), MaxValueValidator(60_000)]
    )
    heartbeat_interval_s = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(5), MaxValueValidator(86_400)]
    )
    image_upload_policy = models.CharField(
        max_length=16, choices=ImagePolicy.choices, default=ImagePolicy.PLATE_CROP
    )
    extra = BoundedJSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("camera_id", "id")
        verbose_name_plural = "sensor settings"

    def __str__(self):
        return (
            f"Sensor settings #{self.pk} for {self.camera.slug}"
            if self.camera_id
            else "Sensor settings"
        )

    def clean(self):
        if self.zone_id and self.camera_id and self.zone.camera_id != self.camera_id:
            raise ValidationError({"zone": "This zone belongs to another camera."})
        if not isinstance(self.extra, dict):
            raise ValidationError({"extra": "Must be a JSON object."})


# --- Who may talk to us ---------------------------------------------------------------------

KEY_PREFIX_LENGTH = 12


def key_digest(key: str) -> str:
    """SHA-256 of a random key. A fast hash is right here: the key has 256 bits of entropy,
    and a password hasher would cost milliseconds on every device request."""
    return hashlib.sha256(key.encode()).hexdigest()


def key_generate(prefix: str) -> str:
    """A new secret: a readable prefix plus 32 random bytes (43 url-safe characters)."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


class EdgeDevice(models.Model):
    """An edge box that posts plate reads for one or more cameras."""

    name = models.CharField(max_length=200, unique=True)
    cameras = models.ManyToManyField(Camera, related_name="devices", blank=True)
    is_active = models.BooleanField(default=True)
    adopts_cameras = models.BooleanField(
        default=False,
        help_text="A read naming a camera id this device has no camera for creates that "
        "camera, inactive and without a position, for an operator to place (and stores the "
        "read). Off: such reads are refused.",
    )
    notes = models.TextField(blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)

    def __str__(self):
        return self.name


#: Refused reads kept per device (the newest).
REFUSED_READS_KEPT = 50


class RefusedRead(models.Model):
    """A read a device sent that was refused, with why: no edge agent shows its refusals to
    anyone, so the device's admin page does. Only what an operator needs to fix the device (no
    images; no plate when refused for being past retention); the newest REFUSED_READS_KEPT per
    device are kept, each until `expires_at` (cameras.services.refused_read_build)."""

    device = models.ForeignKey(EdgeDevice, on_delete=models.CASCADE, related_name="refused_reads")
    refused_at = models.DateTimeField()
    camera = models.CharField(max_length=128, blank=True, help_text="As the device sent it.")
    plate = models.CharField(max_length=64, blank=True, help_text="As the device read it.")
    captured_at = models.CharField(max_length=64, blank=True, help_text="As the device sent it.")
    source = models.CharField(max_length=32, blank=True)
    errors = models.JSONField(default=dict, help_text="The message(s) per field.")
    expires_at = models.DateTimeField(db_index=True, help_text="When retention deletes it.")

    class Meta:
        ordering = ("-refused_at", "-id")
        indexes = [
            models.Index(fields=("device", "-refused_at"), name="refused_read_device_newest")
        ]

    def __str__(self):
        return f"Refused read of {self.device_id} at {self.refused_at:%Y-%m-%d %H:%M:%S}"


class DeviceKey(models.Model):
    """An API key of an edge device; only its digest is stored. A device may hold two live
    keys while rotating."""

    device = models.ForeignKey(EdgeDevice, on_delete=models.CASCADE, related_name="keys")
    prefix = models.CharField(max_length=KEY_PREFIX_LENGTH, help_text="Start of the key.")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    name = models.CharField(
        max_length=100,
        blank=True,
        help_text="Who issued the key, when not an operator (the demo's live devices).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self):
        return f"{self.prefix}… ({'revoked' if self.revoked_at else 'live'})"

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None


class UserApiToken(models.Model):
    """A user's token for scripts (`Authorization: Bearer <token>`); only its digest is kept."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What the token is for.")
    prefix = models.CharField(max_length=KEY_PREFIX_LENGTH)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        verbose_name = "user API token"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"
