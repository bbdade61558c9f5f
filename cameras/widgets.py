"""Map widgets of the admin: a camera's location picked on a map, a zone's polygon drawn on
one. Each keeps its plain input (the JSON text, the lat/lon numbers) as the value the form
posts, so the model's validators judge it and their errors show on the field as usual; the
map only edits that input (static/admin_maps/admin_maps.js)."""

import json

from django import forms
from django.conf import settings

_VENDOR = "vendor/leaflet-1.9.4"
_GEOMAN = "vendor/leaflet-geoman-2.20.2"


def _tile_attrs() -> dict:
    return {
        "data-tile-url": settings.MAP_TILE_URL,
        "data-tile-attribution": settings.MAP_TILE_ATTRIBUTION,
    }


class _MapMedia:
    css = {
        "all": (
            f"{_VENDOR}/leaflet.css",
            f"{_GEOMAN}/leaflet-geoman.css",
            "admin_maps/admin_maps.css",
        )
    }
    js = (f"{_VENDOR}/leaflet.js", f"{_GEOMAN}/leaflet-geoman.min.js", "admin_maps/admin_maps.js")


class GeoJSONPolygonWidget(forms.Textarea):
    """The GeoJSON text of a zone with a map to draw and edit it on (Polygon or
    MultiPolygon in lon/lat); the other zones of the camera are drawn faintly."""

    Media = _MapMedia

    def __init__(self, attrs=None):
        super().__init__({"rows": 4, **(attrs or {})})

    def get_context(self, name, value, attrs):
        attrs = {**(attrs or {}), **_tile_attrs(), "data-geo-map": "polygon"}
        return super().get_context(name, value, attrs)


class LocationPickerWidget(forms.NumberInput):
    """The latitude input with a map: click or drag the marker to set latitude and
    longitude (the longitude input, named by `longitude_field`, stays in sync)."""

    Media = _MapMedia

    def __init__(self, longitude_field: str = "longitude", attrs=None):
        super().__init__({"step": "any", **(attrs or {})})
        self.longitude_field = longitude_field

    def get_context(self, name, value, attrs):
        prefix = name[: -len("latitude")] if name.endswith("latitude") else ""
        attrs = {
            **(attrs or {}),
            **_tile_attrs(),
            "data-location-map": json.dumps({"longitude": prefix + self.longitude_field}),
        }
        return super().get_context(name, value, attrs)


class ZoneMapAdminMixin:
    """For a ModelAdmin or inline of zones: the geometry field gets the map."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "geometry":
            kwargs["widget"] = GeoJSONPolygonWidget()
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class CameraLocationAdminMixin:
    """For the camera ModelAdmin: latitude and longitude are set on a map."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "latitude":
            kwargs["widget"] = LocationPickerWidget()
        return super().formfield_for_dbfield(db_field, request, **kwargs)
