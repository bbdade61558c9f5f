"""Query-string filters of the events list (GET /api/events/). They combine (AND)."""

import django_filters
from django.apps import apps
from django.db.models import Exists, OuterRef

from cameras.selectors import camera_reference
from core.timestamps import TimestampFilter

from .models import PlateEvent
from .reads import plate_normalize
from .selectors import plate_events_search, plate_prefix_filter


class PlateEventFilter(django_filters.FilterSet):
    camera = django_filters.CharFilter(method="filter_camera", label="Camera id or slug")
    zone = django_filters.NumberFilter(field_name="zone_id", label="Zone id")
    device = django_filters.NumberFilter(field_name="device_id", label="Edge device id")
    plate = django_filters.CharFilter(
        method="filter_plate", label="Exact plate (normalized: 'ab-12 cde' = AB12CDE)"
    )
    plate_prefix = django_filters.CharFilter(method="filter_plate_prefix", label="Plate prefix")
    q = django_filters.CharFilter(
        method="filter_q",
        label="OCR-tolerant plate search: 8ABC123 also finds BABC123 and BA8C123",
    )
    since = TimestampFilter(
        field_name="captured_at", lookup_expr="gte", label="Captured at or after (ISO 8601)"
    )
    until = TimestampFilter(
        field_name="captured_at", lookup_expr="lt", label="Captured before (ISO 8601)"
    )
    received_after = TimestampFilter(
        field_name="received_at",
        lookup_expr="gt",
        label="Received after (ISO 8601): for clients catching up; late batches carry old "
        "capture times",
    )
    min_confidence = django_filters.NumberFilter(
        field_name="confidence", lookup_expr="gte", label="Confidence at least (0..1)"
    )
    vehicle_type = django_filters.ChoiceFilter(choices=PlateEvent.VehicleType.choices)
    direction = django_filters.ChoiceFilter(choices=PlateEvent.Direction.choices)
    source = django_filters.ChoiceFilter(choices=PlateEvent.Source.choices)
    exported = django_filters.BooleanFilter(
        method="filter_exported",
        label="true: every export delivery of the event is delivered (or it had none); "
        "false: some are still pending or dead",
    )

    class Meta:
        model = PlateEvent
        fields = ()

    def filter_camera(self, queryset, name, value):
        return queryset.filter(camera_id=camera_reference(value))

    def filter_plate(self, queryset, name, value):
        return queryset.filter(plate=plate_normalize(value))

    def filter_plate_prefix(self, queryset, name, value):
        return plate_prefix_filter(queryset, value)

    def filter_q(self, queryset, name, value):
        return plate_events_search(queryset, value)

    def filter_exported(self, queryset, name, value):
        """Derived from the deliveries, so it cannot drift from them. The outbox belongs to the
        exporters app and is reached through the app registry, not an import: events imports
        no app that reacts to stored reads (events/after_store.py)."""
        if not apps.is_installed("exporters"):
            return queryset if value else queryset.none()
        link = apps.get_model("exporters", "ExportDeliveryEvent")
        outstanding = link.objects.filter(event=OuterRef("pk")).exclude(
            delivery__status="delivered"
        )
        return queryset.filter(~Exists(outstanding) if value else Exists(outstanding))
