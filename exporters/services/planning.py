"""Planning deliveries: the exporters' after-store step (events/after_store.py).

The outbox rows are written in the read's transaction, so a stored read has its deliveries
and a rolled-back read has none; their task messages are sent only once it commits.
"""

from functools import partial

from django.db import connection, transaction
from django.utils import timezone

from events.after_store import AfterStoreStep
from events.models import PlateEvent

from .. import selectors
from ..models import ExportDelivery, ExportDeliveryEvent, ExporterConfig
from .queue import deliveries_enqueue


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
        transaction.on_commit(partial(deliveries_enqueue, [d.pk for d in deliveries]))
    return deliveries


def _events_stored(*, events: list[PlateEvent], created: bool) -> None:
    deliveries_plan(events=events)


def _any_exporter_enabled_sql() -> str:
    quote = connection.ops.quote_name
    return f"EXISTS (SELECT 1 FROM {quote(ExporterConfig._meta.db_table)} WHERE {quote('enabled')})"


#: Registered by ExportersConfig.ready(). New events only: a read refined in place was
#: exported when it was stored. Whether any exporter is enabled is asked with the device's
#: cameras; exporters/migrations/0003 makes an exporter's change reach the device cache.
PLANNING_STEP = AfterStoreStep(
    name="exporters", stored=_events_stored, work_sql=_any_exporter_enabled_sql
)
