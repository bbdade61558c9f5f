"""Request and response shapes of the cameras API. Validation of a row lives on the model
(ModelCleanSerializer runs it), so the admin and the API refuse the same values."""

from urllib.parse import unquote, urlsplit, urlunsplit

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from core import masking
from core.api import ModelCleanSerializer

from .. import services
from ..models import (
    Camera,
    DeviceKey,
    EdgeDevice,
    ModelConfig,
    SensorSettings,
    Zone,
    external_ids_per_device_check,
)


class ZoneSerializer(ModelCleanSerializer):
    """A zone of a camera. `geometry` is its GeoJSON Polygon/MultiPolygon on the map (WGS84,
    [longitude, latitude]); `roi` an optional Polygon in normalized picture coordinates."""

    class Meta:
        model = Zone
        # The model's constraints are checked by full_clean, which names the field to change.
        validators = []
        fields = (
            "id",
            "camera",
            "name",
            "kind",
            "geometry",
            "roi",
            "enabled",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("created_at", "updated_at")


class CameraZoneSerializer(serializers.ModelSerializer):
    """A zone as nested, read-only, in a camera (edit zones at /api/zones/)."""

    class Meta:
        model = Zone
        fields = ("id", "name", "kind", "geometry", "roi", "enabled")
        read_only_fields = fields


class CameraSerializer(ModelCleanSerializer):
    """A camera. Stream credentials are write-only: send them inside `stream_url`
    (rtsp://user:pass@host/...) or as `stream_username`/`stream_password`; responses show
    only `stream_url` without them (its query masked) and `has_stream_credentials`. A new
    scheme, host or port in `stream_url` drops the stored credentials unless new ones come
    with it (services.camera_stream_credentials_resolve)."""

    stream_username = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=200
    )
    stream_password = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=200,
        style={"input_type": "password"},
    )
    has_stream_credentials = serializers.BooleanField(read_only=True)
    zones = CameraZoneSerializer(many=True, read_only=True)

    class Meta:
        model = Camera
        fields = (
            "id",
            "slug",
            "external_id",
            "name",
            "description",
            "status",
            "latitude",
            "longitude",
            "heading",
            "address",
            "stream_url",
            "stream_username",
            "stream_password",
            "has_stream_credentials",
            "resolution",
            "fps",
            "retention_days",
            "last_seen_at",
            "metadata",
            "zones",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("last_seen_at", "created_at", "updated_at")

    def to_internal_value(self, data):
        # Credentials typed into the URL are split off into the write-only fields.
        if hasattr(data, "get") and isinstance(data.get("stream_url"), str):
            url, username, password = _split_credentials(data["stream_url"])
            if username is not None:
                data = {
                    **data,
                    "stream_url": url,
                    "stream_username": username,
                    "stream_password": password or "",
                }
        return super().to_internal_value(data)

    def validate(self, attrs):
        attrs.update(
            services.camera_stream_credentials_resolve(
                camera=self.instance,
                stream_url=attrs.get("stream_url"),
                stream_username=attrs.get("stream_username"),
                stream_password=attrs.get("stream_password"),
            )
        )
        return super().validate(attrs)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["stream_url"] = masking.url_masked(instance.stream_url)
        return data


def _split_credentials(url: str) -> tuple[str, str | None, str | None]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, None, None
    if parts.username is None and parts.password is None:
        return url, None, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host += f":{parts.port}"
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return clean, unquote(parts.username or ""), unquote(parts.password or "")


class DeviceKeySerializer(serializers.ModelSerializer):
    """A key's public face: its prefix and state. The key itself is never returned again."""

    class Meta:
        model = DeviceKey
        fields = ("id", "prefix", "created_at", "revoked_at")
        read_only_fields = fields


class EdgeDeviceSerializer(ModelCleanSerializer):
    cameras = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Camera.objects.all(), required=False
    )
    keys = DeviceKeySerializer(many=True, read_only=True)

    def validate_cameras(self, cameras):
        try:
            external_ids_per_device_check(cameras)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from None
        return cameras

    class Meta:
        model = EdgeDevice
        fields = (
            "id",
            "name",
            "cameras",
            "is_active",
            "adopts_cameras",
            "notes",
            "keys",
            "last_seen_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("last_seen_at", "created_at", "updated_at")


class EdgeDeviceCreatedSerializer(EdgeDeviceSerializer):
    """The create response: the only time the device key is shown in full."""

    key = serializers.CharField(read_only=True, help_text="The device key. Shown only once.")

    class Meta(EdgeDeviceSerializer.Meta):
        fields = EdgeDeviceSerializer.Meta.fields + ("key",)


class IssuedKeySerializer(serializers.Serializer):
    """A newly issued key: shown once, store it on the device now."""

    id = serializers.IntegerField()
    prefix = serializers.CharField()
    key = serializers.CharField()
    created_at = serializers.DateTimeField()


class ModelConfigSerializer(ModelCleanSerializer):
    """One version of an AI model. Creating a second active version of a model is refused
    (`is_active`); switch versions with POST /api/model-configs/{id}/activate/."""

    class Meta:
        model = ModelConfig
        # The model's constraints are checked by full_clean, which names the field to change.
        validators = []
        fields = (
            "id",
            "name",
            "version",
            "task",
            "framework",
            "artifact_url",
            "artifact_sha256",
            "parameters",
            "is_active",
            "release_notes",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("created_at", "updated_at")


class SensorSettingsSerializer(ModelCleanSerializer):
    """How a camera's device detects. `zone` must belong to the same camera."""

    class Meta:
        model = SensorSettings
        fields = (
            "id",
            "camera",
            "zone",
            "model_config",
            "confidence_threshold",
            "capture_interval_ms",
            "heartbeat_interval_s",
            "image_upload_policy",
            "extra",
            "enabled",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("created_at", "updated_at")


# --- Edge config pull (GET /api/devices/me/config/) ---------------------------------------


class DeviceConfigZoneSerializer(serializers.ModelSerializer):
    class Meta:
        model = Zone
        fields = ("id", "name", "kind", "geometry", "roi")
        read_only_fields = fields


class DeviceConfigSensorSerializer(serializers.ModelSerializer):
    model = serializers.CharField(
        source="model_config.name",
        allow_null=True,
        read_only=True,
        help_text="Name of the model to run; its active version is in `model_configs`.",
    )

    class Meta:
        model = SensorSettings
        fields = (
            "id",
            "zone",
            "model",
            "confidence_threshold",
            "capture_interval_ms",
            "heartbeat_interval_s",
            "image_upload_policy",
            "extra",
        )
        read_only_fields = fields


class DeviceConfigCameraSerializer(serializers.ModelSerializer):
    """A camera as its device needs it. The stream URL carries the credentials: this is
    the only response that includes them."""

    stream_url = serializers.CharField(source="stream_url_with_credentials", read_only=True)
    zones = DeviceConfigZoneSerializer(source="enabled_zones", many=True, read_only=True)
    sensor_settings = DeviceConfigSensorSerializer(
        source="enabled_sensor_settings", many=True, read_only=True
    )

    class Meta:
        model = Camera
        fields = (
            "slug",
            "name",
            "status",
            "stream_url",
            "resolution",
            "fps",
            "latitude",
            "longitude",
            "heading",
            "zones",
            "sensor_settings",
        )
        read_only_fields = fields


class DeviceConfigModelSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelConfig
        fields = (
            "name",
            "version",
            "task",
            "framework",
            "artifact_url",
            "artifact_sha256",
            "parameters",
        )
        read_only_fields = fields


class DeviceConfigDeviceSerializer(serializers.ModelSerializer):
    class Meta:
        model = EdgeDevice
        fields = ("id", "name")
        read_only_fields = fields


class DeviceConfigSerializer(serializers.Serializer):
    """Everything an edge device runs. Unchanged configuration has an unchanged ETag."""

    device = DeviceConfigDeviceSerializer(read_only=True)
    cameras = DeviceConfigCameraSerializer(many=True, read_only=True)
    model_configs = DeviceConfigModelSerializer(many=True, read_only=True)
