"""Reads of the cameras app."""

from dataclasses import dataclass

from django.db import connection
from django.db.models import Prefetch, Q, QuerySet

from anpr.db import fetch_models, select_columns

from .models import (
    Camera,
    DeviceKey,
    EdgeDevice,
    ModelConfig,
    SensorSettings,
    UserApiToken,
    Zone,
    key_digest,
)


def device_for_key(*, key: str) -> EdgeDevice | None:
    """The active device owning this live key, or None. One indexed query on the digest, in
    plain SQL: it runs on every device request, where composing the queryset cost more than
    the query."""
    if not key:
        return None
    quote = connection.ops.quote_name
    keys = DeviceKey._meta
    sql = (
        f"SELECT {select_columns(EdgeDevice, 'd')} FROM {quote(keys.db_table)} k "
        f"JOIN {quote(EdgeDevice._meta.db_table)} d "
        f"ON d.{quote('id')} = k.{quote(keys.get_field('device').column)} "
        f"WHERE k.{quote('digest')} = %s AND k.{quote('revoked_at')} IS NULL "
        f"AND d.{quote('is_active')}"
    )
    found = fetch_models(EdgeDevice, sql, [key_digest(key)])
    return found[0] if found else None


def user_for_token(*, token: str):
    """The active user owning this live API token, or None."""
    if not token:
        return None
    record = (
        UserApiToken.objects.select_related("user")
        .filter(digest=key_digest(token), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    return record.user if record else None


def device_cameras(*, device: EdgeDevice) -> QuerySet[Camera]:
    """The cameras this device may post for."""
    return device.cameras.all()


def camera_list() -> QuerySet[Camera]:
    return Camera.objects.all()


def camera_list_with_zones() -> QuerySet[Camera]:
    """Cameras with their zones loaded in one extra query (the camera read nests them)."""
    return Camera.objects.prefetch_related(Prefetch("zones", queryset=Zone.objects.order_by("id")))


@dataclass(frozen=True)
class DeviceConfig:
    """What an edge device runs: its cameras (each with `enabled_zones` and
    `enabled_sensor_settings` loaded) and the active versions of the models they use."""

    device: EdgeDevice
    cameras: list[Camera]
    model_configs: list[ModelConfig]


def device_config(*, device: EdgeDevice) -> DeviceConfig:
    """The configuration pulled by a device, in a stable order (its ETag hashes the body).

    Only enabled zones and sensor settings are sent; a sensor watching a disabled zone is
    off with it. A sensor follows the active version of its model's name, so activating a
    version reaches every device without editing sensors.
    """
    sensors = (
        SensorSettings.objects.filter(enabled=True)
        .filter(Q(zone__isnull=True) | Q(zone__enabled=True))
        .select_related("model_config")
        .order_by("id")
    )
    cameras = list(
        device.cameras.order_by("slug").prefetch_related(
            Prefetch(
                "zones",
                queryset=Zone.objects.filter(enabled=True).order_by("id"),
                to_attr="enabled_zones",
            ),
            Prefetch("sensor_settings", queryset=sensors, to_attr="enabled_sensor_settings"),
        )
    )
    names = {
        sensor.model_config.name
        for camera in cameras
        for sensor in camera.enabled_sensor_settings
        if sensor.model_config_id
    }
    model_configs = list(
        ModelConfig.objects.filter(name__in=names, is_active=True).order_by("name")
    )
    return DeviceConfig(device=device, cameras=cameras, model_configs=model_configs)
