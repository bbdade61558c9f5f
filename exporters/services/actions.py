"""Operators' actions on exporters: redelivery, enabling, the secrets a form may keep, and
the test send."""

import uuid
from dataclasses import dataclass
from functools import partial

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from cameras.models import Camera
from core import masking
from events.models import PlateEvent
from watchlists.models import Hit

from .. import selectors
from ..models import ExportDelivery, ExporterConfig
from .queue import deliveries_enqueue
from .sending import delivery_send

Status = ExportDelivery.Status


def deliveries_redeliver(*, deliveries: QuerySet) -> int:
    """Send these deliveries again from a fresh schedule (dead ones, or delivered ones a
    receiver lost). A delivery being sent right now is left alone."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            deliveries.exclude(status=Status.DELIVERING, next_attempt_at__gte=now).values_list(
                "pk", flat=True
            )
        )
        ExportDelivery.objects.filter(pk__in=ids).update(
            status=Status.PENDING,
            attempts=0,
            next_attempt_at=now,
            queued_at=now,
            delivered_at=None,
            updated_at=now,
        )
        transaction.on_commit(partial(deliveries_enqueue, ids))
    return len(ids)


def exporter_set_enabled(*, exporter: ExporterConfig, enabled: bool) -> ExporterConfig:
    """Enable or disable; it applies to the next event. A disabled exporter's pending
    deliveries wait and resume when it is enabled again."""
    with transaction.atomic():
        exporter.enabled = enabled
        exporter.save(update_fields=["enabled", "updated_at"])
        if enabled:
            # What waited while disabled is queued by the next sweep, not after a timeout.
            exporter.deliveries.filter(status=Status.PENDING).update(queued_at=None)
    return exporter


def exporter_secrets_resolve(
    *,
    exporter: ExporterConfig | None,
    url: str | None = None,
    headers=None,
    secret: str | None = None,
) -> dict:
    """The url, headers and secret to write for an exporter (None: not submitted), as
    {field: value} for those that change. The API and the admin answer masks
    (core.masking); a mask sent back keeps the stored value. A new scheme, host or port drops
    the stored secret, header values and URL query unless new ones are submitted: whoever
    may edit the URL must not be able to send the stored credentials elsewhere."""
    stored = exporter or ExporterConfig()
    keep = masking.secrets_kept(url=url, stored_url=stored.url, stored=exporter is not None)
    changes = {}
    if url is not None:
        changes["url"] = masking.url_unmasked(url=url, stored=stored.url, keep=keep)
    if headers is not None:
        changes["headers"] = masking.headers_unmasked(
            headers=headers, stored=stored.headers, keep=keep
        )
    elif not keep:
        changes["headers"] = {name: "" for name in stored.headers}
    secret = masking.secret_unmasked(value=secret, stored=stored.secret, keep=keep)
    if secret is not None:
        changes["secret"] = secret
    return changes


def exporter_address_check(*, exporter: ExporterConfig, url: str | None, user) -> None:
    """Refuse a new address from a user who may not see a covert list the exporter is filtered
    by: it would take that list's reads and hits to wherever they choose."""
    if url is None or url == exporter.url:
        return
    if selectors.exporter_covert_hidden(exporter=exporter, user=user):
        raise ValidationError(
            {
                "url": "This exporter is filtered by a list you may not see: only an admin or "
                "the list's owners may change its address."
            }
        )


@dataclass(frozen=True)
class TestResult:
    """What POST /api/exporters/{id}/test/ reports."""

    ok: bool
    status_code: int | None
    response_ms: int
    error: str
    delivery_id: str


def exporter_test(*, exporter: ExporterConfig) -> TestResult:
    """Send one sample event now (a sample hit, to an exporter that sends hits only), signed
    and authenticated like a real delivery, and record the outcome on the exporter. Nothing
    is stored in the outbox."""
    delivery_id = uuid.uuid4()
    event = _sample_event()
    hits = None if exporter.sends(ExporterConfig.Send.READS) else [_sample_hit(event)]
    result = delivery_send(
        exporter=exporter, delivery_id=delivery_id, events=[event], hits=hits, test=True
    )
    now = timezone.now()
    if result.ok:
        ExporterConfig.objects.filter(pk=exporter.pk).update(last_success_at=now)
    else:
        ExporterConfig.objects.filter(pk=exporter.pk).update(
            last_error=result.error[:500], last_error_at=now
        )
    return TestResult(
        ok=result.ok,
        status_code=result.status_code,
        response_ms=result.response_ms,
        error=result.error,
        delivery_id=str(delivery_id),
    )


def _sample_event() -> PlateEvent:
    """An unsaved event that looks like a real read (on a real camera when there is one)."""
    now = timezone.now()
    camera = Camera.objects.order_by("pk").first() or Camera(
        id=0, slug="sample-camera", name="Sample camera"
    )
    return PlateEvent(
        id=uuid.UUID(int=0),
        camera=camera,
        plate="AB12CDE",
        plate_raw="AB12 CDE",
        plate_key="AB12CDE",
        confidence=0.97,
        country="GB",
        captured_at=now,
        received_at=now,
        direction=PlateEvent.Direction.IN,
        metadata={"sample": True},
    )


def _sample_hit(event: PlateEvent) -> Hit:
    """An unsaved hit of the sample event on a sample list, shaped like a real one."""
    snapshot = {
        "watchlist": {
            "id": 0,
            "name": "Sample list",
            "kind": "alert",
            "priority": 0,
            "colour": "#d32f2f",
        },
        "entry": {"id": str(uuid.UUID(int=0)), "plate": event.plate, "category": "other"},
        "read_plate": event.plate,
        "matched_plate": event.plate,
        "candidate": False,
        "cost": 0,
        "substituted": [],
    }
    return Hit(
        id=uuid.UUID(int=0),
        event=event,
        camera=event.camera,
        plate=event.plate,
        captured_at=event.captured_at,
        snapshot=snapshot,
    )
