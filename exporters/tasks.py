"""Celery tasks of the exporters app: they take ids and call services, and are safe to run
twice (the delivery row decides whether anything is sent)."""

import logging
from collections import Counter

from celery import shared_task
from django.db import OperationalError

from . import services
from .services.queue import DELIVERIES_ATTEMPT_TASK

logger = logging.getLogger(__name__)

#: A database hiccup (a lost connection, a lock) is retried within seconds; anything longer is
#: the sweep's job, which finds the rows due or stuck.
_DATABASE_RETRIES = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(
    name=DELIVERIES_ATTEMPT_TASK,
    acks_late=True,
    ignore_result=True,
    **_DATABASE_RETRIES,
)
def exporter_deliveries_attempt(delivery_ids: list[str]) -> dict[str, int]:
    """Attempt these deliveries, and due companions of theirs while the message has room
    (see services.deliveries_attempt); how many ended how."""
    outcomes = services.deliveries_attempt(delivery_ids=delivery_ids, companions=True)
    return dict(Counter(outcomes.values()))


@shared_task(
    name="exporters.tasks.exporter_deliver",
    acks_late=True,
    ignore_result=True,
    **_DATABASE_RETRIES,
)
def exporter_deliver(delivery_id: str) -> str:
    """Attempt one delivery: messages queued before deliveries travelled in batches."""
    return services.delivery_attempt(delivery_id=delivery_id)


@shared_task(name="exporters.tasks.exporter_deliveries_sweep", ignore_result=True)
def exporter_deliveries_sweep() -> int:
    """Beat: queue due retries, lost messages and deliveries of dead workers. Logs only when
    it queued something (serve's worker also drops Celery's lines for it)."""
    queued = services.deliveries_sweep()
    if queued:
        logger.info("Export sweep: %d deliveries queued.", queued)
    return queued
