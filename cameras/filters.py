"""Query-string filters of the cameras API."""

import django_filters

from .models import Camera, EdgeDevice


class CameraFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")
    search = django_filters.CharFilter(method="filter_search", label="Name, slug or address")

    class Meta:
        model = Camera
        fields = ("status", "slug", "external_id", "name")

    def filter_search(self, queryset, name, value):
        from django.db.models import Q

        return queryset.filter(
            Q(name__icontains=value) | Q(slug__icontains=value) | Q(address__icontains=value)
        )


class EdgeDeviceFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")
    camera = django_filters.NumberFilter(field_name="cameras")

    class Meta:
        model = EdgeDevice
        fields = ("is_active", "name", "camera")
