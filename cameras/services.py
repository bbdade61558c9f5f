"""Writes of the cameras app: stream credentials, model activation, sensor switches, device
keys, user tokens, roles, device presence. Plain CRUD of configuration rows goes through the
model's own validation (ModelCleanSerializer in the API, model forms in the admin)."""

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.text import slugify

from core import masking

from .models import (
    KEY_PREFIX_LENGTH,
    REFUSED_READS_KEPT,
    Camera,
    DeviceKey,
    EdgeDevice,
    ModelConfig,
    RefusedRead,
    SensorSettings,
    UserApiToken,
    key_digest,
    key_generate,
)

logger = logging.getLogger(__name__)

DEVICE_KEY_PREFIX = "anprd"
USER_TOKEN_PREFIX = "anpru"


# --- Configuration --------------------------------------------------------------------------


def camera_stream_credentials_resolve(
    *,
    camera: Camera | None,
    stream_url: str | None = None,
    stream_username: str | None = None,
    stream_password: str | None = None,
) -> dict:
    """The stream URL and credentials to write for a camera (None: not submitted), as
    {field: value} for those that change: the exporters' rule (exporter_secrets_resolve) for
    what its device is sent. A mask sent back keeps the stored value; a new scheme, host or
    port drops the stored credentials and URL query unless new ones are submitted, so nobody
    who may edit the URL can send the device's stream login elsewhere."""
    stored = camera or Camera()
    keep = masking.secrets_kept(
        url=stream_url, stored_url=stored.stream_url, stored=camera is not None
    )
    changes = {}
    if stream_url is not None:
        changes["stream_url"] = masking.url_unmasked(
            url=stream_url, stored=stored.stream_url, keep=keep
        )
    for name, value in (("stream_username", stream_username), ("stream_password", stream_password)):
        resolved = masking.secret_unmasked(value=value, stored=getattr(stored, name), keep=keep)
        if resolved is not None:
            changes[name] = resolved
    return changes


def model_config_activate(*, model_config: ModelConfig) -> ModelConfig:
    """Make this the version devices run: the previously active version of the same model is
    deactivated in the same transaction, so there is never a moment with two (or, to a
    reader, none). The API action and the admin action both call this."""
    try:
        with transaction.atomic():
            # Lock the model's versions: concurrent activations of one model run in turn.
            list(ModelConfig.objects.select_for_update().filter(name=model_config.name))
            now = timezone.now()
            ModelConfig.objects.filter(name=model_config.name, is_active=True).exclude(
                pk=model_config.pk
            ).update(is_active=False, updated_at=now)
            ModelConfig.objects.filter(pk=model_config.pk).update(is_active=True, updated_at=now)
    except IntegrityError:
        # A version created as active by a concurrent request, after our lock, won.
        raise ValidationError(
            {"is_active": "Another version of this model became active meanwhile; try again."}
        ) from None
    model_config.refresh_from_db()
    return model_config


def sensor_settings_set_enabled(*, sensor_settings: QuerySet[SensorSettings], enabled: bool) -> int:
    """Switch many sensors on or off at once (the admin's bulk action); returns how many
    changed. Devices see the change at their next config pull."""
    return sensor_settings.exclude(enabled=enabled).update(
        enabled=enabled, updated_at=timezone.now()
    )


@dataclass(frozen=True)
class IssuedKey:
    """A key just made: `key` is the secret, shown to its owner once and never stored."""

    key: str
    record: DeviceKey | UserApiToken


def device_key_issue(*, device: EdgeDevice) -> IssuedKey:
    """A new live key for the device. Older keys stay live until revoked (rotation overlap)."""
    key = key_generate(DEVICE_KEY_PREFIX)
    record = DeviceKey.objects.create(
        device=device, prefix=key[:KEY_PREFIX_LENGTH], digest=key_digest(key)
    )
    return IssuedKey(key=key, record=record)


@transaction.atomic
def device_create(
    *,
    name: str,
    cameras=(),
    notes: str = "",
    is_active: bool = True,
    adopts_cameras: bool = False,
) -> tuple[EdgeDevice, IssuedKey]:
    device = EdgeDevice.objects.create(
        name=name, notes=notes, is_active=is_active, adopts_cameras=adopts_cameras
    )
    if cameras:
        device.cameras.set(cameras)
    return device, device_key_issue(device=device)


def device_key_revoke(*, key: DeviceKey) -> None:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])


def device_keys_revoke_all_but(*, device: EdgeDevice, keep: DeviceKey) -> int:
    """End a rotation: every other live key of the device stops working."""
    return (
        device.keys.filter(revoked_at__isnull=True)
        .exclude(pk=keep.pk)
        .update(revoked_at=timezone.now())
    )


def device_touch(*, device: EdgeDevice, cameras: list[Camera] = ()) -> None:
    """Record that the device (and cameras) were heard from, at most once per interval, so
    that concurrent requests of one busy device do not queue on its row."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.DEVICE_LAST_SEEN_INTERVAL)
    if device.last_seen_at is None or device.last_seen_at < stale:
        EdgeDevice.objects.filter(pk=device.pk).exclude(last_seen_at__gte=stale).update(
            last_seen_at=now
        )
        device.last_seen_at = now
    for camera in cameras:
        if camera.last_seen_at is None or camera.last_seen_at < stale:
            Camera.objects.filter(pk=camera.pk).exclude(last_seen_at__gte=stale).update(
                last_seen_at=now
            )
            camera.last_seen_at = now


#: A device adopts cameras while it has fewer than this many (a runaway agent inventing camera
#: ids stops there; an operator can still assign more).
ADOPTING_CAMERAS_MAX = 100


class AdoptionRefused(Exception):
    """The device may not adopt this camera; the message says why."""


def camera_adopt(*, device: EdgeDevice, external_id: str) -> Camera:
    """The camera `external_id` names on a device that adopts cameras: created inactive,
    without a position, named after the vendor id, for an operator to place and activate.

    Safe when two first reads of the same new camera race: the slug is derived from the
    device and the vendor id, so the second INSERT meets the first's unique slug and takes the
    camera the first created (with its link: both are written in one transaction). A slug
    already taken by an unrelated camera moves on to one with a digest of both."""
    if not device.adopts_cameras:
        raise AdoptionRefused("this device does not adopt cameras")
    if device.cameras.count() >= ADOPTING_CAMERAS_MAX:
        raise AdoptionRefused(
            f"this device has {ADOPTING_CAMERAS_MAX} cameras, the most it adopts; "
            "assign it in the admin"
        )
    max_length = Camera._meta.get_field("slug").max_length
    base = slugify(f"{device.name} {external_id}")[:max_length].strip("-") or "camera"
    digest = hashlib.sha256(f"{device.pk}|{external_id}".encode()).hexdigest()[:10]
    for slug in (base, f"{base[: max_length - 11].strip('-')}-{digest}"):
        try:
            with transaction.atomic():
                camera = Camera.objects.create(
                    slug=slug,
                    external_id=external_id,
                    name=external_id[: Camera._meta.get_field("name").max_length],
                    status=Camera.Status.INACTIVE,
                    description=f"Adopted from device {device.name}: place it on the map "
                    "and activate it.",
                )
                device.cameras.add(camera)
            return camera
        except IntegrityError:
            camera = Camera.objects.filter(
                slug=slug, external_id=external_id, devices=device
            ).first()
            if camera is not None:
                return camera
    raise AdoptionRefused("no free slug for it; assign it in the admin")


def refused_reads_record(*, device: EdgeDevice, refused: list[RefusedRead]) -> None:
    """Keep a device's refused reads (unsaved RefusedRead rows) for its admin page: the newest
    REFUSED_READS_KEPT, in one short transaction of their own (a refused read writes nothing
    else). Called only when something was refused."""
    refused = refused[-REFUSED_READS_KEPT:]
    for row in refused:
        row.device = device
        row.errors = _errors_storable(row.errors)
    try:
        with transaction.atomic():
            RefusedRead.objects.bulk_create(refused)
            newest = RefusedRead.objects.filter(device=device).order_by("-refused_at", "-id")
            cutoff = newest.values_list("refused_at", "id")[
                REFUSED_READS_KEPT : REFUSED_READS_KEPT + 1
            ]
            if cutoff:
                refused_at, pk = cutoff[0]
                RefusedRead.objects.filter(device=device).filter(
                    Q(refused_at__lt=refused_at) | Q(refused_at=refused_at, id__lte=pk)
                ).delete()
    except DatabaseError as error:
        # a diagnostic, not the answer: two requests of a device trimming at once (a deadlock)
        # must not turn a stored read's answer into a 500
        logger.warning("Refused reads of device %s not kept: %s", device.pk, error)


def _errors_storable(errors) -> dict[str, list[str]]:
    """{field: [message]} as PostgreSQL stores it (no NUL: field names and messages may quote
    what the device sent), each text bounded."""

    def text(value, length: int) -> str:
        return str(value).replace("\x00", "")[:length]

    if not isinstance(errors, dict):
        errors = {"non_field_errors": errors}
    return {
        text(field, 128): [
            text(m, 500) for m in (messages if isinstance(messages, list) else [messages])
        ]
        for field, messages in list(errors.items())[:50]
    }


def refused_reads_purge(*, before: datetime) -> int:
    """Retention for refused reads (events.services.retention): those older than `before`."""
    deleted, _ = RefusedRead.objects.filter(refused_at__lt=before).delete()
    return deleted


def user_token_issue(*, user, name: str) -> IssuedKey:
    key = key_generate(USER_TOKEN_PREFIX)
    record = UserApiToken.objects.create(
        user=user, name=name, prefix=key[:KEY_PREFIX_LENGTH], digest=key_digest(key)
    )
    return IssuedKey(key=key, record=record)


def user_token_revoke(*, token: UserApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


# --- Roles ----------------------------------------------------------------------------------

ROLE_VIEWER = "viewer"
ROLE_OPERATOR = "operator"
ROLE_ADMIN = "admin"

#: Apps whose models make up the product; roles get permissions on all of them.
PRODUCT_APPS = ("cameras", "events", "exporters")
#: Models operators may not edit (only view): what devices report and audit records.
OPERATOR_READ_ONLY = {
    ("events", "plateevent"),
    ("events", "eventstatistics"),
    ("cameras", "userapitoken"),
    ("cameras", "refusedread"),
}


def roles_ensure() -> dict[str, int]:
    """Create or refresh the three role groups; safe to run any number of times.

    viewer: view everything. operator: view everything, edit configuration.
    admin: every permission of the product apps, plus users and groups.
    Returns the number of permissions each group holds.
    """
    product = Permission.objects.filter(content_type__app_label__in=PRODUCT_APPS).select_related(
        "content_type"
    )
    view = [p for p in product if p.codename.startswith("view_")]
    operator = [
        p
        for p in product
        if p.codename.startswith("view_")
        or (p.content_type.app_label, p.content_type.model) not in OPERATOR_READ_ONLY
    ]
    admin = list(product) + list(Permission.objects.filter(content_type__app_label="auth"))
    counts = {}
    for name, perms in ((ROLE_VIEWER, view), (ROLE_OPERATOR, operator), (ROLE_ADMIN, admin)):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(perms)
        counts[name] = len(perms)
    return counts
