"""Query-string filters of the cameras API."""

import django_filters
from django.db.models import Q

from .models import Camera, EdgeDevice, ModelConfig, SensorSettings, Zone


class CameraFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")
    search = django_filters.CharFilter(method="filter_search", label="Name, slug or address")

    class Meta:
        model = Camera
        fields = ("status", "slug", "external_id", "name")

    def filter_search(self, queryset, name, value):
        return queryset.filter(
            Q(name__icontains=value) | Q(slug__icontains=value) | Q(address__icontains=value)
        )


class EdgeDeviceFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")
    camera = django_filters.NumberFilter(field_name="cameras")

    class Meta:
        model = EdgeDevice
        fields = ("is_active", "name", "camera")


class ZoneFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")
    camera_slug = django_filters.CharFilter(field_name="camera__slug")

    class Meta:
        model = Zone
        fields = ("camera", "camera_slug", "kind", "enabled", "name")


class ModelConfigFilter(django_filters.FilterSet):
    name = django_filters.CharFilter()
    camera = django_filters.NumberFilter(
        field_name="sensor_settings__camera", distinct=True, label="Used by this camera (id)"
    )
    search = django_filters.CharFilter(method="filter_search", label="Name, version or notes")

    class Meta:
        model = ModelConfig
        fields = ("name", "version", "task", "framework", "is_active", "camera")

    def filter_search(self, queryset, name, value):
        return queryset.filter(
            Q(name__icontains=value)
            | Q(version__icontains=value)
            | Q(release_notes__icontains=value)
        )


class SensorSettingsFilter(django_filters.FilterSet):
    camera_slug = django_filters.CharFilter(field_name="camera__slug")
    model_name = django_filters.CharFilter(field_name="model_config__name")

    class Meta:
        model = SensorSettings
        fields = (
            "camera",
            "camera_slug",
            "zone",
            "model_config",
            "model_name",
            "image_upload_policy",
            "enabled",
        )
