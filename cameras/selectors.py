"""Reads of the cameras app."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.db.models import Min, Prefetch, Q, QuerySet, Subquery

from core.db import fetch_models, select_columns
from core.ids import ascii_integer

from .directory import device_directory
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
    """The active device owning this live key, or None. From this process's device cache
    where it is on (cameras/directory.py), else one indexed query on the key's digest."""
    if not key:
        return None
    digest = key_digest(key)
    cached = device_directory.usable()
    if cached and (entry := device_directory.entry(digest)) is not None:
        return entry.device
    device = _device_for_digest(digest)
    if device is not None and cached:
        device_directory.remember(digest, device)
    return device


def device_cameras_cached(*, device: EdgeDevice, build, extras: dict[str, str] | None = None):
    """What `build(all the device's cameras)` made of them, from the device cache: built
    once per cache entry (`extras` as in cameras_of_device). None when the
    device did not come from the cache (then query what you need). Call it after
    device_for_key in the same request (which read PostgreSQL's notifications)."""
    if (entry := device_directory.entry_of(device)) is None:
        return None
    if entry.cameras is None:
        entry.cameras = build(cameras_of_device(device=device, extras=extras))
    return entry.cameras


def _device_for_digest(digest: str) -> EdgeDevice | None:
    # Plain SQL: it runs on every device request, where composing the queryset cost more
    # than the query.
    quote = connection.ops.quote_name
    keys = DeviceKey._meta
    sql = (
        f"SELECT {select_columns(EdgeDevice, 'd')} FROM {quote(keys.db_table)} k "
        f"JOIN {quote(EdgeDevice._meta.db_table)} d "
        f"ON d.{quote('id')} = k.{quote(keys.get_field('device').column)} "
        f"WHERE k.{quote('digest')} = %s AND k.{quote('revoked_at')} IS NULL "
        f"AND d.{quote('is_active')}"
    )
    found = fetch_models(EdgeDevice, sql, [digest])
    return found[0] if found else None


def cameras_of_device(
    *, device: EdgeDevice, named=(), limit: int | None = None, extras: dict[str, str] | None = None
) -> list[Camera]:
    """The device's cameras whose external_id or slug is in `named` (all if none are named,
    or the first `limit`), ordered by slug, as whole rows (the stored events hand their camera
    on to the live stream and exporters). `extras` ({attribute: SQL expression over the
    camera `c`}) are asked in the same round trip and set on each camera: the ingest asks
    what its after-store steps want to know (events/after_store.py).

    Plain SQL: this runs on every ingest request without the device cache, and composing the
    equivalent queryset costs several times the query itself."""
    quote = connection.ops.quote_name
    through = EdgeDevice.cameras.through._meta
    extras = extras or {}
    columns = "".join(f", {expression}" for expression in extras.values())
    sql = (
        f"SELECT {select_columns(Camera, 'c')}{columns} "
        f"FROM {quote(Camera._meta.db_table)} c JOIN {quote(through.db_table)} m "
        f"ON m.{quote(through.get_field('camera').column)} = c.{quote('id')} "
        f"WHERE m.{quote(through.get_field('edgedevice').column)} = %s"
    )
    params: list = [device.pk]
    if named:
        marks = ", ".join(["%s"] * len(named))
        sql += f" AND (c.{quote('external_id')} IN ({marks}) OR c.{quote('slug')} IN ({marks}))"
        params += [*named, *named]
    sql += f" ORDER BY c.{quote('slug')}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return fetch_models(Camera, sql, params, extras=tuple(extras))


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


def camera_reference(value: str) -> int | Subquery:
    """The camera a query string names, by id or slug (`?camera=12` or `?camera=damrak`), as
    something `camera_id=` compares with: digits are the id, anything else the slug's id as
    a subquery (not a join: the planner then ranges over an index holding camera_id)."""
    value = value.strip()
    if (camera_id := ascii_integer(value)) is not None:
        return camera_id
    return Subquery(Camera.objects.filter(slug=value).order_by().values("pk")[:1])


#: Heartbeat interval of a camera without enabled sensor settings (SensorSettings' default).
DEFAULT_HEARTBEAT_SECONDS = SensorSettings._meta.get_field("heartbeat_interval_s").default


@dataclass(frozen=True)
class CameraLiveness:
    """When a camera shows as offline: not heard from (a read or a heartbeat, its
    last_seen_at) for CAMERA_OFFLINE_AFTER_HEARTBEATS of its shortest enabled heartbeat
    interval. The live map re-applies `state_of` in the browser as reads arrive
    (static/live/live_map.js cameraState, fed `per_camera` and `default`)."""

    per_camera: dict[int, int]  # seconds, for cameras with enabled sensor settings
    default: int  # seconds, for the others

    def offline_after(self, camera_id: int) -> int:
        return self.per_camera.get(camera_id) or self.default

    def state_of(self, camera: Camera, *, now: datetime) -> str:
        """active cameras are online or offline; the others show their status."""
        if camera.status != Camera.Status.ACTIVE:
            return camera.status
        if camera.last_seen_at is None:
            return "offline"
        seconds = (now - camera.last_seen_at).total_seconds()
        return "offline" if seconds > self.offline_after(camera.pk) else "online"


def camera_liveness() -> CameraLiveness:
    """The offline rule's thresholds, for every camera (one grouped query)."""
    beats = (
        SensorSettings.objects.filter(enabled=True)
        .values("camera_id")
        .annotate(shortest=Min("heartbeat_interval_s"))
        .order_by()
    )
    heartbeats = settings.CAMERA_OFFLINE_AFTER_HEARTBEATS
    return CameraLiveness(
        per_camera={row["camera_id"]: row["shortest"] * heartbeats for row in beats},
        default=DEFAULT_HEARTBEAT_SECONDS * heartbeats,
    )


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
