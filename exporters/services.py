"""Writes of the exporters app: planning deliveries with an event, attempting them, the sweep,
redelivery, enabling and testing exporters.

A delivery's life: `pending` (due at next_attempt_at) → claimed `delivering` by exactly one
worker (an UPDATE that only one can win) → `delivered`, back to `pending` with a later
next_attempt_at, or `dead`. A worker that dies leaves `delivering` with an expired lease
(next_attempt_at), which the sweep queues again. Every task message only says "look at these
ids" (up to DELIVERIES_PER_MESSAGE of them); the rows decide whether anything is sent, so
duplicate or late messages are harmless. A message's deliveries are claimed, loaded and
recorded together, which is what makes a batch of reads cheap to export; a worker killed in
the middle of one leaves all of them to the sweep, and those it had already sent are sent
again (receivers drop the repeat by X-ANPR-Delivery).
"""

import base64
import logging
import random
import time
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from urllib.parse import parse_qsl, urlsplit

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.utils import timezone

from anpr import masking
from anpr.db import fetch_models
from cameras.models import Camera
from events.models import PlateEvent

from . import selectors
from .models import ExportDelivery, ExportDeliveryEvent, ExporterConfig
from .payloads import delivery_body
from .signing import SIGNATURE_HEADER, signature_header
from .transport import CONNECT_TIMEOUT, SendResult, request_send

logger = logging.getLogger(__name__)

Status = ExportDelivery.Status

#: Exporter last_success_at / last_error are written at most this often, so that many workers
#: delivering for one exporter do not queue on its row.
EXPORTER_STATUS_INTERVAL = timedelta(seconds=5)


# --- Planning (inside the ingest transaction) ----------------------------------------------


def deliveries_plan(
    *, events: list[PlateEvent], exporters: list[ExporterConfig] | None = None
) -> list[ExportDelivery]:
    """One delivery per matching enabled exporter (per batch of `batch_size` events), inserted
    in the caller's transaction; their tasks are queued only if it commits. `exporters` is
    selectors.exporters_for_planning() when the caller already asked."""
    if not events:
        return []
    if exporters is None:
        exporters = selectors.exporters_for_planning()
    now = timezone.now()
    deliveries, links = [], []
    for exporter in exporters:
        matching = [event for event in events if selectors.exporter_matches(exporter, event)]
        for start in range(0, len(matching), exporter.batch_size):
            delivery = ExportDelivery(
                exporter=exporter, next_attempt_at=now, queued_at=now, created_at=now
            )
            deliveries.append(delivery)
            links.extend(
                ExportDeliveryEvent(delivery=delivery, event=event)
                for event in matching[start : start + exporter.batch_size]
            )
    if deliveries:
        ExportDelivery.objects.bulk_create(deliveries)
        ExportDeliveryEvent.objects.bulk_create(links)
        transaction.on_commit(partial(_enqueue, [d.pk for d in deliveries]))
    return deliveries


#: Deliveries per task message: a batch of reads becomes a few messages, which the worker
#: slots share, and each message's task claims, loads and records its deliveries together.
DELIVERIES_PER_MESSAGE = 20


def _enqueue(ids, *, countdown: float | None = None) -> None:
    """Send task messages. A broker that is down costs nothing but time: the sweep queues
    these rows again once their message is presumed lost."""
    from .tasks import exporter_deliveries_attempt as task

    ids = [str(delivery_id) for delivery_id in ids]
    if not ids:
        return
    retry_policy = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2}
    try:
        with task.app.producer_or_acquire() as producer:  # one connection for all
            for start in range(0, len(ids), DELIVERIES_PER_MESSAGE):
                task.apply_async(
                    (ids[start : start + DELIVERIES_PER_MESSAGE],),
                    countdown=countdown,
                    producer=producer,
                    retry_policy=retry_policy,
                )
    except Exception:  # the broker's errors vary by transport; none may undo a commit
        logger.warning(
            "Could not queue export deliveries (%d); the sweep will queue them.",
            len(ids),
            exc_info=True,
        )


# --- Attempting deliveries (the Celery task) -----------------------------------------------


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


def delivery_attempt(*, delivery_id) -> str:
    """Attempt one delivery: the status it was left in, or "skipped" (see deliveries_attempt)."""
    return deliveries_attempt(delivery_ids=[delivery_id])[str(delivery_id)]


def deliveries_attempt(*, delivery_ids: list, companions: bool = False) -> dict[str, str]:
    """Claim those of these deliveries that are due, send each once and record the outcomes.
    Returns each id's status after its attempt, or "skipped" when there was nothing to do
    (already delivered, dead, claimed by another worker, not yet due, exporter disabled).
    Deliveries that could not be sent within the claim's lease go back to pending, queued in
    a new message, their attempt not counted.

    The queries are per call, not per delivery (claim, exporters, links, events, record), so a
    task message carrying many ids costs little more than one carrying a single id. With
    `companions` (the task does it), a message with fewer than DELIVERIES_PER_MESSAGE also
    claims other due deliveries of the same exporters: when reads arrive one per request,
    each message carries one delivery, and their own messages then find them taken."""
    outcomes = {str(delivery_id): "skipped" for delivery_id in delivery_ids}
    if not outcomes:
        return outcomes
    now = timezone.now()
    claimed = _deliveries_claim(delivery_ids=list(outcomes), now=now)
    if not claimed:
        return outcomes
    room = DELIVERIES_PER_MESSAGE - len(claimed)
    if companions and room > 0 and connection.features.has_select_for_update_skip_locked:
        extra = _deliveries_claim(
            companions_of={d.exporter_id for d in claimed},
            limit=room,
            now=now,
            lease=claimed[0].next_attempt_at,
        )
        claimed += extra
        outcomes.update({str(d.pk): "skipped" for d in extra})
    exporters = ExporterConfig.objects.in_bulk({d.exporter_id for d in claimed})
    events = _deliveries_events(delivery_ids=[d.pk for d in claimed])
    started = time.monotonic()
    attempts = []
    for delivery in claimed:
        exporter = exporters.get(delivery.exporter_id)
        if exporter is None:  # deleted since the claim, and its deliveries with it
            continue
        delivery.exporter = exporter
        # A send can take its connect and read timeouts. One that could end after the lease
        # (when another worker may take the row and send it too) is handed back unsent.
        longest = time.monotonic() - started + CONNECT_TIMEOUT + exporter.timeout_seconds
        if attempts and longest > settings.EXPORTER_CLAIM_TIMEOUT:
            result = None
        elif not events.get(delivery.pk):
            result = SendResult(None, 0, "Its events were deleted before delivery.", False)
        else:
            result = _send(exporter=exporter, delivery_id=delivery.pk, events=events[delivery.pk])
        attempts.append((delivery, result))
    outcomes.update(_attempts_record(attempts=attempts, lease=claimed[0].next_attempt_at))
    return outcomes


def _deliveries_claim(
    *,
    now,
    delivery_ids: list[str] = (),
    companions_of: set[int] = frozenset(),
    limit: int = 0,
    lease=None,
) -> list[ExportDelivery]:
    """Mark the due ones `delivering` and return them, in one UPDATE … RETURNING that only
    one worker can win per row: the conditions are on the row itself, so a concurrent claim
    re-checks them after waiting for the row lock. A disabled exporter's deliveries are not
    claimed; they wait and the sweep resumes them.

    Every row claimed here gets the same lease (next_attempt_at, when a silent worker is
    presumed dead). A later claim of the same row sets a later one, so the lease also tells
    whether this attempt still holds the row when it records the outcome.

    With `companions_of` (exporter ids) instead of ids: up to `limit` due pending deliveries
    of those exporters, oldest first, skipping rows another worker has locked, claimed with
    the given `lease` (the one of the call's own claim)."""
    fields = ExportDelivery._meta
    quote = connection.ops.quote_name

    def column(name: str) -> str:
        return quote(fields.get_field(name).column)

    def prep(name: str, value):
        return fields.get_field(name).get_db_prep_value(value, connection)

    lease = lease or now + timedelta(seconds=settings.EXPORTER_CLAIM_TIMEOUT)
    status, due_at, attempts = column("status"), column("next_attempt_at"), column("attempts")
    table = quote(fields.db_table)
    now_value = prep("updated_at", now)
    if companions_of:
        exporters = ", ".join(["%s"] * len(companions_of))
        chosen = (
            f"SELECT {column('id')} FROM {table} WHERE {column('exporter')} IN ({exporters}) "
            f"AND {status} = %s AND {due_at} <= %s "
            f"ORDER BY {due_at} LIMIT {int(limit)} FOR UPDATE SKIP LOCKED"
        )
        chosen_params = [*companions_of, Status.PENDING, now_value]
    else:
        chosen = ", ".join(["%s"] * len(delivery_ids))
        chosen_params = [prep("id", delivery_id) for delivery_id in delivery_ids]
    sql = (
        f"UPDATE {table} "
        f"SET {status} = %s, {attempts} = {attempts} + 1, {due_at} = %s, "
        f"{column('updated_at')} = %s "
        f"WHERE {column('id')} IN ({chosen}) "
        f"AND (({status} = %s AND {due_at} <= %s) OR ({status} = %s AND {due_at} < %s)) "
        f"AND {column('exporter')} IN (SELECT e.{quote('id')} "
        f"FROM {quote(ExporterConfig._meta.db_table)} e WHERE e.{quote('enabled')}) "
        f"RETURNING {', '.join(quote(f.column) for f in fields.concrete_fields)}"
    )
    params = [
        Status.DELIVERING,
        prep("next_attempt_at", lease),
        now_value,
        *chosen_params,
        Status.PENDING,
        now_value,
        Status.DELIVERING,
        now_value,
    ]
    return fetch_models(ExportDelivery, sql, params)


def _deliveries_events(*, delivery_ids: list) -> dict:
    """{delivery id: its events in capture order}. Lookups by key rather than one join:
    each has one plan, whatever the statistics."""
    links = ExportDeliveryEvent.objects.filter(delivery_id__in=delivery_ids)
    event_ids: dict = {}
    for delivery_id, event_id in links.values_list("delivery_id", "event_id"):
        event_ids.setdefault(delivery_id, []).append(event_id)
    events = PlateEvent.objects.select_related("camera", "zone").in_bulk(
        {event_id for ids in event_ids.values() for event_id in ids}
    )
    return {
        delivery_id: sorted(
            (events[event_id] for event_id in ids if event_id in events),
            key=lambda event: event.captured_at,
        )
        for delivery_id, ids in event_ids.items()
    }


def _send(*, exporter: ExporterConfig, delivery_id, events: list, test: bool = False):
    """Build one delivery's request (or the test action's) and send it. An error of ours, not
    the receiver's, is a failed attempt retried on its schedule: it must neither stop the
    other deliveries of a message, whose outcomes are recorded together afterwards, nor fail
    the test action."""
    try:
        body = delivery_body(delivery_id=delivery_id, exporter_name=exporter.name, events=events)
        headers = request_headers(exporter=exporter, delivery_id=delivery_id, body=body)
        if test:
            headers["X-ANPR-Test"] = "1"
        result = request_send(
            url=exporter.url,
            method=exporter.method,
            headers=headers,
            body=body,
            timeout=exporter.timeout_seconds,
        )
    except Exception as error:
        logger.error(
            "Export delivery %s to exporter %s failed unexpectedly (%s).",
            delivery_id,
            exporter.pk,
            type(error).__name__,
            exc_info=True,
        )
        return SendResult(None, 0, f"Unexpected error while sending: {type(error).__name__}.", True)
    # The error quotes the receiver's answer, which goes to the API, the admin and the logs:
    # a receiver that echoes our credentials (write-only everywhere) must not leak them there.
    query = urlsplit(exporter.url).query
    credentials = [exporter.secret, headers.get("Authorization", ""), query]
    values = [*exporter.headers.values(), *(value for _, value in parse_qsl(query))]
    credentials += [value for value in values if len(value) >= 6]  # "1" is no secret
    if result.error and any(c and c in result.error for c in credentials):
        error = result.error
        for credential in credentials:
            if credential:
                error = error.replace(credential, "[redacted]")
        result = replace(result, error=error)
    return result


def request_headers(*, exporter: ExporterConfig, delivery_id, body: bytes) -> dict[str, str]:
    headers = {
        **exporter.headers,
        "Content-Type": "application/json",
        "User-Agent": "anpr-exporter/1",
        "X-ANPR-Delivery": str(delivery_id),
    }
    auth = ExporterConfig.AuthType
    if exporter.auth_type == auth.BEARER:
        headers["Authorization"] = f"Bearer {exporter.secret}"
    elif exporter.auth_type == auth.BASIC:
        pair = f"{exporter.username}:{exporter.secret}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    elif exporter.auth_type == auth.HMAC:
        headers[SIGNATURE_HEADER] = signature_header(secret=exporter.secret, body=body)
    return headers


def _attempts_record(
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
    _enqueue([pk for pk, countdown in countdowns.items() if pk in written and countdown is None])
    for delivery_id, countdown in countdowns.items():
        if delivery_id in written and countdown is not None:
            _enqueue([delivery_id], countdown=countdown)
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


# --- The sweep (Celery beat) ---------------------------------------------------------------


def deliveries_sweep(*, limit: int | None = None) -> int:
    """Queue deliveries that are due and have no live message: retries whose time has come,
    messages presumed lost, and deliveries whose worker died mid-attempt. Rows are claimed
    with SELECT … FOR UPDATE SKIP LOCKED, so concurrent sweeps split the work."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.EXPORTER_CLAIM_TIMEOUT)
    due = Q(status=Status.PENDING, next_attempt_at__lte=now) | Q(
        status=Status.DELIVERING, next_attempt_at__lt=now
    )
    unqueued = Q(queued_at__isnull=True) | Q(queued_at__lt=stale)
    with transaction.atomic():
        rows = ExportDelivery.objects.filter(due, unqueued, exporter__enabled=True).order_by(
            "next_attempt_at"
        )
        if connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True, of=("self",))
        ids = list(rows.values_list("pk", flat=True)[: limit or settings.EXPORTER_SWEEP_BATCH])
        if ids:
            ExportDelivery.objects.filter(pk__in=ids).update(queued_at=now)
            transaction.on_commit(partial(_enqueue, ids))
    return len(ids)


# --- Operators' actions --------------------------------------------------------------------


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
        transaction.on_commit(partial(_enqueue, ids))
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
    (anpr.masking); a mask sent back keeps the stored value. A new scheme, host or port drops
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


@dataclass(frozen=True)
class TestResult:
    """What POST /api/exporters/{id}/test/ reports."""

    ok: bool
    status_code: int | None
    response_ms: int
    error: str
    delivery_id: str


def exporter_test(*, exporter: ExporterConfig) -> TestResult:
    """Send one sample event now, signed and authenticated like a real delivery, and record
    the outcome on the exporter. Nothing is stored in the outbox."""
    delivery_id = uuid.uuid4()
    result = _send(exporter=exporter, delivery_id=delivery_id, events=[_sample_event()], test=True)
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
