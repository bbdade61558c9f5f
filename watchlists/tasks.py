"""Celery tasks of the watchlists app: they take ids, call services, and are safe to run
twice (the import's status, or the list's last_fetched_at, decides)."""

import logging

from celery import shared_task

from .services.import_jobs import IMPORT_RUN_TASK, import_job_run
from .services.notify import HIT_EMAIL_TASK, hit_email_send
from .services.sources import FETCH_TASK, source_fetch, sources_sweep

logger = logging.getLogger(__name__)


@shared_task(name=IMPORT_RUN_TASK, acks_late=True, ignore_result=True)
def watchlist_import_run(job_id: str) -> str:
    """Run a stored import (an upload over WATCHLIST_IMPORT_ASYNC_LINES lines)."""
    return import_job_run(job_id=job_id)


@shared_task(name=FETCH_TASK, acks_late=True, ignore_result=True)
def watchlist_source_fetch(watchlist_id: int) -> str:
    """Fetch and import one list's source URL, if it is due."""
    return source_fetch(watchlist_id=watchlist_id)


@shared_task(name="watchlists.tasks.watchlist_sources_sweep", ignore_result=True)
def watchlist_sources_sweep() -> int:
    """Beat: queue the fetches of lists whose source is due; logs only when it queued some."""
    queued = sources_sweep()
    if queued:
        logger.info("Watchlist sources: %d fetches queued.", queued)
    return queued


@shared_task(
    name=HIT_EMAIL_TASK,
    acks_late=True,
    ignore_result=True,
    autoretry_for=(Exception,),
    retry_backoff=30,
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=10,
)
def watchlist_hit_email(hit_id: str) -> int:
    """E-mail one hit to its list's addresses; a mail server that fails is retried for hours."""
    return hit_email_send(hit_id=hit_id)
