"""API representations of events (read-only: events are written by the ingest service)."""

from django.utils import timezone
from rest_framework import serializers

from cameras.models import Camera
from cameras.selectors import camera_reference
from core.timestamps import TimestampField

from .. import representation
from ..image_links import image_link_site
from ..models import PlateEvent
from ..representation import datetime_render


# The fields are declared here for the OpenAPI schema; the answer is events.representation's
# document (a test holds the two equal), with image links absolute on the request's host.
class PlateEventSerializer(serializers.ModelSerializer):
    """A plate read, as the API and the live stream show it (exporters get it regrouped)."""

    camera_slug = serializers.CharField(source="camera.slug", read_only=True)
    camera_name = serializers.CharField(source="camera.name", read_only=True)
    zone_name = serializers.CharField(source="zone.name", read_only=True, default=None)
    plate_image_url = serializers.SerializerMethodField()
    frame_image_url = serializers.SerializerMethodField()

    class Meta:
        model = PlateEvent
        exclude = representation.HIDDEN_COLUMNS
        read_only_fields = [f.name for f in PlateEvent._meta.concrete_fields]

    def to_representation(self, event):
        return representation.plate_event_document(event=event, image_link=self._image_link)

    def _image_link(self, *, event, kind) -> str | None:
        url = image_link_site(event=event, kind=kind)
        request = self.context.get("request")
        return request.build_absolute_uri(url) if url and request else url

    def get_plate_image_url(self, event) -> str | None:
        """The plate crop, served to signed-in users allowed to view events."""
        return self._image_link(event=event, kind="plate")

    def get_frame_image_url(self, event) -> str | None:
        """The full frame, served to signed-in users allowed to view events."""
        return self._image_link(event=event, kind="frame")


class EventStatisticsQuerySerializer(serializers.Serializer):
    """The query string of GET /api/events/stats/."""

    since = TimestampField(required=False, help_text="Default: 24 hours before until.")
    until = TimestampField(required=False, help_text="Default: now.")
    interval = serializers.ChoiceField(choices=["hour", "day"], default="hour")
    camera = serializers.CharField(
        required=False, help_text="Camera id or slug (as in GET /api/events/)."
    )
    zone = serializers.IntegerField(required=False, min_value=1)
    top = serializers.IntegerField(required=False, default=10, min_value=1, max_value=100)
    stack = serializers.ChoiceField(
        choices=["camera"],
        required=False,
        help_text="camera: also `series`, the busiest cameras' counts per bucket (the others "
        "as one series, camera null), for a stacked chart.",
    )

    def validate_camera(self, value) -> int:
        found = Camera.objects.filter(pk=camera_reference(value)).values_list("pk", flat=True)
        if (camera := found.first()) is None:
            raise serializers.ValidationError("No camera has this id or slug.")
        return camera

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
    camera_name = serializers.CharField()
    count = serializers.IntegerField()
    average_confidence = serializers.FloatField(allow_null=True)
    last_seen_at = serializers.DateTimeField(
        allow_null=True, help_text="Its last read or heartbeat (now, not as of the window)."
    )
    state = serializers.ChoiceField(
        choices=["online", "offline", *(s for s in Camera.Status.values if s != "active")],
        help_text="As on the live map: offline when not heard from for a few heartbeats.",
    )


class _ZoneCount(serializers.Serializer):
    zone = serializers.IntegerField(allow_null=True)
    zone_name = serializers.CharField(allow_null=True)
    camera = serializers.IntegerField()
    count = serializers.IntegerField()
    average_confidence = serializers.FloatField(allow_null=True)


class _Series(serializers.Serializer):
    camera = serializers.IntegerField(allow_null=True, help_text="null: all other cameras")
    counts = serializers.ListField(
        child=serializers.IntegerField(), help_text="One per bucket, in the buckets' order."
    )


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
    series = _Series(many=True, help_text="With stack=camera; else empty.")

    def to_representation(self, body):
        """The same output as the fields above render (a test holds them equal), built
        directly: field by field, a month's 300 zones and 200 cameras took 10 ms."""
        zone = timezone.get_current_timezone()

        def rows(items, serializer):
            names = tuple(serializer.child.fields)
            return [{name: item[name] for name in names} for item in items]

        return {
            "since": datetime_render(body["since"], zone),
            "until": datetime_render(body["until"], zone),
            "interval": body["interval"],
            "time_zone": body["time_zone"],
            "total": body["total"],
            "average_confidence": body["average_confidence"],
            "buckets": [
                {**bucket, "start": datetime_render(bucket["start"], zone)}
                for bucket in rows(body["buckets"], self.fields["buckets"])
            ],
            "cameras": [
                {**camera, "last_seen_at": seen and datetime_render(seen, zone)}
                for camera in rows(body["cameras"], self.fields["cameras"])
                for seen in [camera["last_seen_at"]]
            ],
            "zones": rows(body["zones"], self.fields["zones"]),
            "distinct_plates": body["distinct_plates"],
            "top_plates": rows(body["top_plates"], self.fields["top_plates"]),
            "series": rows(body["series"], self.fields["series"]),
        }
