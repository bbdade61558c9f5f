"""Validators for values operators type: coordinates, GeoJSON geometry, vendor camera ids.

Shared by model fields, so the admin form, the API and imports refuse the same values with
the same message.
"""

from numbers import Real

from django.core.exceptions import ValidationError


def _position_error(position, *, normalized: bool) -> str | None:
    if not isinstance(position, (list, tuple)) or len(position) < 2:
        return f"{position!r} is not a position [longitude, latitude]."
    x, y = position[0], position[1]
    if not all(isinstance(v, Real) and not isinstance(v, bool) for v in (x, y)):
        return f"position {list(position)!r} must hold numbers."
    if normalized:
        if not (0 <= x <= 1 and 0 <= y <= 1):
            return f"position {list(position)!r} is outside the image (0..1)."
        return None
    if not -180 <= x <= 180:
        return f"longitude {x} is out of range (-180..180)."
    if not -90 <= y <= 90:
        return f"latitude {y} is out of range (-90..90)."
    return None


def _ring_errors(ring, *, normalized: bool, where: str) -> list[str]:
    if not isinstance(ring, list):
        return [f"{where} must be a list of positions."]
    if len(ring) < 4:
        return [f"{where} has {len(ring)} positions; a linear ring needs at least 4."]
    for position in ring:
        error = _position_error(position, normalized=normalized)
        if error:
            return [f"{where}: {error}"]
    if list(ring[0][:2]) != list(ring[-1][:2]):
        return [f"{where} is not closed: its first and last positions differ."]
    return []


def _polygon_errors(rings, *, normalized: bool, where: str) -> list[str]:
    if not isinstance(rings, list) or not rings:
        return [f"{where} must be a non-empty list of linear rings."]
    errors = []
    for index, ring in enumerate(rings):
        errors += _ring_errors(ring, normalized=normalized, where=f"{where} ring {index}")
    return errors


def geometry_errors(value, *, normalized: bool = False) -> list[str]:
    """What is wrong with a GeoJSON Polygon/MultiPolygon (empty list when nothing is)."""
    if not isinstance(value, dict):
        return ["Geometry must be a GeoJSON object."]
    kind = value.get("type")
    coordinates = value.get("coordinates")
    if kind == "Polygon":
        return _polygon_errors(coordinates, normalized=normalized, where="polygon")
    if kind == "MultiPolygon" and not normalized:
        if not isinstance(coordinates, list) or not coordinates:
            return ["MultiPolygon coordinates must be a non-empty list of polygons."]
        errors = []
        for index, polygon in enumerate(coordinates):
            errors += _polygon_errors(polygon, normalized=normalized, where=f"polygon {index}")
        return errors
    allowed = "Polygon" if normalized else "Polygon or MultiPolygon"
    return [f"Geometry type {kind!r} is not allowed; use {allowed}."]


def validate_geojson_area(value) -> None:
    """A GeoJSON Polygon or MultiPolygon in WGS84 (lon, lat)."""
    errors = geometry_errors(value)
    if errors:
        raise ValidationError(errors, code="invalid_geometry")


def validate_image_polygon(value) -> None:
    """A GeoJSON Polygon in normalized image coordinates (0..1), origin top-left."""
    errors = geometry_errors(value, normalized=True)
    if errors:
        raise ValidationError(errors, code="invalid_roi")


def external_ids_per_device_check(cameras) -> None:
    """A vendor camera id names one camera of a device: refuse (a ValidationError for the
    `cameras` field) a device's `cameras` where two carry the same external_id; Camera.clean
    checks a camera's own change. The database cannot hold this across the device-camera
    link; the admin and the API check it, and adoption (cameras.services.camera_adopt) takes
    turns on the device's row."""
    seen: dict[str, str] = {}
    for camera in cameras:
        if not camera.external_id:
            continue
        if camera.external_id in seen and seen[camera.external_id] != camera.slug:
            raise ValidationError(
                f"Cameras {seen[camera.external_id]} and {camera.slug} both have the vendor id "
                f"'{camera.external_id}'; one device's must differ."
            )
        seen[camera.external_id] = camera.slug
