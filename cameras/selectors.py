"""Reads of the cameras app."""

from dataclasses import dataclass

from django.db.models import Prefetch, Q, QuerySet

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
    """The active device owning this live key, or None. One indexed query on the digest."""
    if not key:
        return None
    record = (
        DeviceKey.objects.select_related("device")
        .filter(digest=key_digest(key), revoked_at__isnull=True, device__is_active=True)
        .first()
    )
    return record.device if record else None


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
