"""Recording attempts: each delivery's outcome, its next attempt on a capped, jittered
schedule, and the exporter's last success or error."""

import logging
import random
from datetime import timedelta

from django.conf import settings
from django.db.models import Case, F, QuerySet, Value, When
from django.utils import timezone

from ..models import ExportDelivery, ExporterConfig
from ..transport import SendResult
from .queue import deliveries_enqueue

logger = logging.getLogger(__name__)

Status = ExportDelivery.Status

#: Exporter last_success_at / last_error are written at most this often, so that many workers
#: delivering for one exporter do not queue on its row.
EXPORTER_STATUS_INTERVAL = timedelta(seconds=5)


def retry_delay(*, attempt: int, retry_after: float | None = None) -> float:
    """Seconds until the next attempt after attempt number `attempt` failed: exponential,
    capped, with jitter that only lengthens it (so the schedule's span is a floor), and never
    sooner than the receiver's Retry-After."""
    ceiling = settings.EXPORTER_RETRY_MAX_DELAY
    delay = min(settings.EXPORTER_RETRY_BASE * 2 ** (attempt - 1), ceiling)
    delay *= 1 + random.random() * settings.EXPORTER_RETRY_JITTER
    if retry_after is not None:
        delay = max(delay, min(retry_after, ceiling))
    return delay


def retry_schedule_span(*, max_attempts: int) -> float:
    """The shortest time from a first attempt to the last one (the jitter only adds)."""
    return sum(
        min(settings.EXPORTER_RETRY_BASE * 2 ** (n - 1), settings.EXPORTER_RETRY_MAX_DELAY)
        for n in range(1, max_attempts)
    )


def attempts_record(
    *, attempts: list[tuple[ExportDelivery, SendResult | None]], lease
) -> dict[str, str]:
    """Write the outcomes in one UPDATE and return {delivery id: status} for those written.
    A result of None hands the delivery back unsent. Only the holder of an attempt writes: if
    its lease ran out and another worker took over, that worker's record wins (its lease is
    later)."""
    now = timezone.now()
    changes, countdowns, statuses = {}, {}, {}
    for delivery, result in attempts:
        if result is None:
            fields = {
                "status": Status.PENDING,
                "attempts": delivery.attempts - 1,
                "next_attempt_at": now,
                "queued_at": now,
                "updated_at": now,
            }
            countdowns[delivery.pk] = None  # queued again at once
        else:
            fields = _attempt_outcome(delivery=delivery, result=result, now=now)
            if "queued_at" in fields and fields["queued_at"] is not None:
                countdowns[delivery.pk] = (fields["next_attempt_at"] - now).total_seconds()
        changes[delivery.pk] = fields
        statuses[delivery.pk] = fields["status"]
    if not changes:
        return {}
    held = ExportDelivery.objects.filter(status=Status.DELIVERING, next_attempt_at=lease)
    written = set(changes)
    if _rows_update(held, changes) < len(changes):  # some leases ran out: which were ours?
        ours = ExportDelivery.objects.filter(pk__in=list(changes), updated_at=now)
        written = set(ours.values_list("pk", flat=True))
    sent = [(d, r) for d, r in attempts if d.pk in written and r is not None]
    _exporter_status_record(attempts=sent, now=now)
    deliveries_enqueue(
        [pk for pk, countdown in countdowns.items() if pk in written and countdown is None]
    )
    for delivery_id, countdown in countdowns.items():
        if delivery_id in written and countdown is not None:
            deliveries_enqueue([delivery_id], countdown=countdown)
    for delivery, result in sent:
        if not result.ok:
            logger.info(
                "Export delivery %s to %s attempt %d: %s -> %s",
                delivery.pk,
                delivery.exporter.name,
                delivery.attempts,
                result.error,
                statuses[delivery.pk],
            )
    return {str(pk): statuses[pk] for pk in written}


def _attempt_outcome(*, delivery: ExportDelivery, result: SendResult, now) -> dict:
    """The fields one sent attempt leaves on its delivery."""
    fields = {
        "last_status_code": result.status_code,
        "response_ms": result.response_ms,
        "last_error": result.error[:500],
        "updated_at": now,
    }
    if result.ok:
        fields.update(status=Status.DELIVERED, delivered_at=now)
    elif result.retryable and delivery.attempts < delivery.exporter.max_attempts:
        delay = retry_delay(attempt=delivery.attempts, retry_after=result.retry_after)
        due = now + timedelta(seconds=delay)
        fields.update(status=Status.PENDING, next_attempt_at=due)
        # A short wait goes back on the queue with a countdown; a longer one waits for the
        # sweep (a countdown beyond the broker's visibility timeout would be redelivered).
        fields["queued_at"] = due if delay <= settings.EXPORTER_COUNTDOWN_MAX else None
    else:
        fields["status"] = Status.DEAD
    return fields


def _rows_update(queryset: QuerySet, changes: dict) -> int:
    """One UPDATE giving each row (by pk) its own field values, like bulk_update() but keeping
    the queryset's conditions, writing a value that all rows share once, and without a
    transaction of its own. Returns the number of rows written."""
    model = queryset.model
    unset = object()
    values = {}
    for name in {name for fields in changes.values() for name in fields}:
        given = [fields.get(name, unset) for fields in changes.values()]
        if given[0] is not unset and all(value == given[0] for value in given):
            values[name] = given[0]
            continue
        field = model._meta.get_field(name)
        whens = [
            When(pk=pk, then=Value(fields[name], output_field=field))
            for pk, fields in changes.items()
            if name in fields
        ]
        values[name] = Case(*whens, default=F(name), output_field=field)
    return queryset.filter(pk__in=list(changes)).update(**values)


def _exporter_status_record(*, attempts: list[tuple[ExportDelivery, SendResult]], now) -> None:
    """last_success_at / last_error of each exporter, at most every EXPORTER_STATUS_INTERVAL."""
    recent = now - EXPORTER_STATUS_INTERVAL
    latest = {}  # (exporter id, ok) -> (exporter, its last such result)
    for delivery, result in attempts:
        latest[delivery.exporter_id, result.ok] = (delivery.exporter, result)
    for (_, ok), (exporter, result) in latest.items():
        rows = ExporterConfig.objects.filter(pk=exporter.pk)
        if ok:
            if exporter.last_success_at is None or exporter.last_success_at < recent:
                rows.exclude(last_success_at__gte=recent).update(last_success_at=now)
        elif exporter.last_error_at is None or exporter.last_error_at < recent:
            rows.exclude(last_error_at__gte=recent).update(
                last_error=result.error[:500], last_error_at=now
            )
