"""API representations of events (read-only: events are written by the ingest service)."""

from django.urls import reverse
from rest_framework import serializers

from ..models import PlateEvent


class PlateEventSerializer(serializers.ModelSerializer):
    camera_slug = serializers.CharField(source="camera.slug", read_only=True)
    zone_name = serializers.CharField(source="zone.name", read_only=True, default=None)
    plate_image_url = serializers.SerializerMethodField()
    frame_image_url = serializers.SerializerMethodField()

    class Meta:
        model = PlateEvent
        exclude = ("idempotency_key", "plate_image", "frame_image")
        read_only_fields = [f.name for f in PlateEvent._meta.concrete_fields]

    def _image_url(self, event, kind) -> str | None:
        if not getattr(event, f"{kind}_image"):
            return None
        url = reverse("event-image", kwargs={"pk": event.pk, "kind": kind})
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url

    def get_plate_image_url(self, event) -> str | None:
        """The plate crop, served to signed-in users allowed to view events."""
        return self._image_url(event, "plate")

    def get_frame_image_url(self, event) -> str | None:
        """The full frame, served to signed-in users allowed to view events."""
        return self._image_url(event, "frame")


class EventStatisticsQuerySerializer(serializers.Serializer):
    """The query string of GET /api/events/stats/."""

    since = serializers.DateTimeField(required=False, help_text="Default: 24 hours before until.")
    until = serializers.DateTimeField(required=False, help_text="Default: now.")
    interval = serializers.ChoiceField(choices=["hour", "day"], default="hour")
    camera = serializers.IntegerField(required=False, min_value=1)
    zone = serializers.IntegerField(required=False, min_value=1)
    top = serializers.IntegerField(required=False, default=10, min_value=1, max_value=100)

    def validate(self, attrs):
        if "since" in attrs and "until" in attrs and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": ["Must be after since."]})
        return attrs


class _Bucket(serializers.Serializer):
    start = serializers.DateTimeField()
    count = serializers.IntegerField()
    average_confidence = serializers.FloatField(allow_null=True)


class _CameraCount(serializers.Serializer):
    camera = serializers.IntegerField()
    camera_slug = serializers.CharField()
    count = serializers.IntegerField()
    average_confidence = serializers.FloatField(allow_null=True)


class _ZoneCount(serializers.Serializer):
    zone = serializers.IntegerField(allow_null=True)
    zone_name = serializers.CharField(allow_null=True)
    camera = serializers.IntegerField()
    count = serializers.IntegerField()
    average_confidence = serializers.FloatField(allow_null=True)


class _PlateCount(serializers.Serializer):
    plate = serializers.CharField()
    count = serializers.IntegerField()


class EventStatisticsSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    interval = serializers.CharField()
    time_zone = serializers.CharField()
    total = serializers.IntegerField()
    average_confidence = serializers.FloatField(allow_null=True)
    buckets = _Bucket(many=True)
    cameras = _CameraCount(many=True)
    zones = _ZoneCount(many=True)
    distinct_plates = serializers.IntegerField()
    top_plates = _PlateCount(many=True)
