"""Attempting deliveries (the Celery task's work): claim the due ones, load their events,
send each once and record the outcomes, a message's deliveries together."""

import time

from django.conf import settings
from django.db import connection
from django.utils import timezone

from events.models import PlateEvent
from watchlists.models import Hit

from ..models import ExportDeliveryEvent, ExportDeliveryHit, ExporterConfig
from ..transport import CONNECT_TIMEOUT, SendResult
from .claims import deliveries_claim
from .queue import DELIVERIES_PER_MESSAGE
from .recording import attempts_record
from .sending import delivery_send


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
    claimed = deliveries_claim(delivery_ids=list(outcomes), now=now)
    if not claimed:
        return outcomes
    room = DELIVERIES_PER_MESSAGE - len(claimed)
    if companions and room > 0 and connection.features.has_select_for_update_skip_locked:
        extra = deliveries_claim(
            companions_of={d.exporter_id for d in claimed},
            limit=room,
            now=now,
            lease=claimed[0].next_attempt_at,
        )
        claimed += extra
        outcomes.update({str(d.pk): "skipped" for d in extra})
    exporters = ExporterConfig.objects.in_bulk({d.exporter_id for d in claimed})
    kinds = {ExporterConfig.Send.READS: [], ExporterConfig.Send.HITS: []}
    for delivery in claimed:
        kinds[delivery.kind].append(delivery.pk)
    events = _deliveries_events(delivery_ids=kinds["reads"]) if kinds["reads"] else {}
    hits = _deliveries_hits(delivery_ids=kinds["hits"]) if kinds["hits"] else {}
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
        elif delivery.kind == ExporterConfig.Send.HITS:
            if not hits.get(delivery.pk):
                result = SendResult(None, 0, "Its hits were deleted before delivery.", False)
            else:
                result = delivery_send(
                    exporter=exporter, delivery_id=delivery.pk, events=[], hits=hits[delivery.pk]
                )
        elif not events.get(delivery.pk):
            result = SendResult(None, 0, "Its events were deleted before delivery.", False)
        else:
            result = delivery_send(
                exporter=exporter, delivery_id=delivery.pk, events=events[delivery.pk]
            )
        attempts.append((delivery, result))
    outcomes.update(attempts_record(attempts=attempts, lease=claimed[0].next_attempt_at))
    return outcomes


def _deliveries_events(*, delivery_ids: list) -> dict:
    """{delivery id: its events in capture order}."""
    links = ExportDeliveryEvent.objects.filter(delivery_id__in=delivery_ids)
    return _by_delivery(links, "event_id", PlateEvent.objects.select_related("camera", "zone"))


def _deliveries_hits(*, delivery_ids: list) -> dict:
    """{delivery id: its hits in capture order, with their reads}."""
    links = ExportDeliveryHit.objects.filter(delivery_id__in=delivery_ids)
    return _by_delivery(links, "hit_id", Hit.objects.select_related("event__camera", "event__zone"))


def _by_delivery(links, column: str, rows) -> dict:
    """{delivery id: the rows its links name, in capture order} (rows deleted since are left
    out). Lookups by key rather than one join: each has one plan, whatever the statistics."""
    ids: dict = {}
    for delivery_id, row_id in links.values_list("delivery_id", column):
        ids.setdefault(delivery_id, []).append(row_id)
    found = rows.in_bulk({row_id for row_ids in ids.values() for row_id in row_ids})
    return {
        delivery_id: sorted(
            (found[row_id] for row_id in row_ids if row_id in found),
            key=lambda row: row.captured_at,
        )
        for delivery_id, row_ids in ids.items()
    }
