"""Planning deliveries: the exporters' after-store step (events/after_store.py).

The outbox rows are written in the read's transaction, so a stored read has its deliveries
and a rolled-back read has none; their task messages are sent only once it commits. Reads go
to exporters whose `send` has "reads"; the hits the watchlists step (run just before) raised
go to those whose `send` has "hits", as deliveries of kind "hits".
"""

from functools import partial

from django.db import connection, transaction
from django.utils import timezone

from events.after_store import AfterStoreStep
from events.models import PlateEvent
from watchlists.services.matching import read_hits

from .. import selectors
from ..models import ExportDelivery, ExportDeliveryEvent, ExportDeliveryHit, ExporterConfig
from .queue import deliveries_enqueue

Send = ExporterConfig.Send


def deliveries_plan(
    *, events: list[PlateEvent], exporters: list[ExporterConfig] | None = None, reads=True
) -> list[ExportDelivery]:
    """One delivery per matching enabled exporter (per batch of `batch_size` reads, or of
    hits), inserted in the caller's transaction; their tasks are queued only if it commits.
    `exporters` is selectors.exporters_for_planning() when the caller already asked; without
    `reads` only the reads' hits are planned (a read refined in place was sent when stored)."""
    hits = [(hit, event) for event in events for hit in read_hits(event)]
    if not events or not (reads or hits):
        return []
    if exporters is None:
        exporters = selectors.exporters_for_planning()
    now = timezone.now()
    deliveries, links, hit_links = [], [], []

    def batches(exporter, kind, items):
        for start in range(0, len(items), exporter.batch_size):
            delivery = ExportDelivery(
                exporter=exporter, kind=kind, next_attempt_at=now, queued_at=now, created_at=now
            )
            deliveries.append(delivery)
            yield delivery, items[start : start + exporter.batch_size]

    for exporter in exporters:
        if reads and exporter.sends(Send.READS):
            matching = [event for event in events if selectors.exporter_matches(exporter, event)]
            for delivery, batch in batches(exporter, Send.READS, matching):
                links += [ExportDeliveryEvent(delivery=delivery, event=event) for event in batch]
        if hits and exporter.sends(Send.HITS):
            taken = [
                hit for hit, event in hits if selectors.exporter_takes_hit(exporter, hit, event)
            ]
            for delivery, batch in batches(exporter, Send.HITS, taken):
                hit_links += [ExportDeliveryHit(delivery=delivery, hit=hit) for hit in batch]
    if deliveries:
        ExportDelivery.objects.bulk_create(deliveries)
        if links:
            ExportDeliveryEvent.objects.bulk_create(links)
        if hit_links:
            ExportDeliveryHit.objects.bulk_create(hit_links)
        transaction.on_commit(partial(deliveries_enqueue, [d.pk for d in deliveries]))
    return deliveries


def _events_stored(*, events: list[PlateEvent], created: bool) -> None:
    deliveries_plan(events=events, reads=created)


def _any_exporter_enabled_sql() -> str:
    quote = connection.ops.quote_name
    return f"EXISTS (SELECT 1 FROM {quote(ExporterConfig._meta.db_table)} WHERE {quote('enabled')})"


#: Registered by ExportersConfig.ready(). Also for reads refined in place, for their new hits
#: only (the read was exported when it was stored; with no hit nothing is asked). Whether any
#: exporter is enabled is asked with the device's cameras; exporters/migrations/0003 makes an
#: exporter's change reach the device cache.
PLANNING_STEP = AfterStoreStep(
    name="exporters",
    stored=_events_stored,
    updates=True,
    work_sql=_any_exporter_enabled_sql,
)
