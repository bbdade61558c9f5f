"""Reads of the cameras app."""

from django.db.models import QuerySet

from .models import Camera, DeviceKey, EdgeDevice, UserApiToken, key_digest


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
