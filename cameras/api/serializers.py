"""Request and response shapes of the cameras API. Validation of a row lives on the model
(ModelCleanSerializer runs it), so the admin and the API refuse the same values."""

from urllib.parse import unquote, urlsplit, urlunsplit

from rest_framework import serializers

from anpr.api import ModelCleanSerializer

from ..models import Camera, DeviceKey, EdgeDevice


class CameraSerializer(ModelCleanSerializer):
    """A camera. Stream credentials are write-only: send them inside `stream_url`
    (rtsp://user:pass@host/...) or as `stream_username`/`stream_password`; responses show
    only `stream_url` without them and `has_stream_credentials`."""

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

    class Meta:
        model = EdgeDevice
        fields = (
            "id",
            "name",
            "cameras",
            "is_active",
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
