"""Claiming deliveries: the UPDATE that lets exactly one worker attempt a row, and the sweep
that queues rows whose time has come or whose message or worker was lost."""

from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from core.db import fetch_models

from ..models import ExportDelivery, ExporterConfig
from .queue import deliveries_enqueue

Status = ExportDelivery.Status


def deliveries_claim(
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
            transaction.on_commit(partial(deliveries_enqueue, ids))
    return len(ids)
