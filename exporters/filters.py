import django_filters

from core.timestamps import TimestampFilter

from .models import ExportDelivery, ExporterConfig


class ExporterConfigFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")
    camera = django_filters.NumberFilter(field_name="cameras")

    class Meta:
        model = ExporterConfig
        fields = ("enabled", "kind", "auth_type", "name", "camera")


class ExportDeliveryFilter(django_filters.FilterSet):
    event = django_filters.UUIDFilter(field_name="event_links__event", distinct=True)
    hit = django_filters.UUIDFilter(field_name="hit_links__hit", distinct=True)
    created_after = TimestampFilter(field_name="created_at", lookup_expr="gte")
    created_before = TimestampFilter(field_name="created_at", lookup_expr="lt")
    delivered_after = TimestampFilter(field_name="delivered_at", lookup_expr="gte")
    delivered_before = TimestampFilter(field_name="delivered_at", lookup_expr="lt")

    class Meta:
        model = ExportDelivery
        fields = ("exporter", "kind", "status", "event", "hit")
