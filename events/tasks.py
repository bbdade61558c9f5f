"""Celery tasks of the events app; each calls one service and is safe to run twice."""

import logging

from celery import shared_task

from .models import PurgeRun
from .services.retention import events_purge
from .services.rollup import event_statistics_rollup

logger = logging.getLogger(__name__)


@shared_task(name="events.tasks.event_statistics_rollup", ignore_result=True)
def event_statistics_rollup_task() -> int:
    """Keep the hourly statistics current (beat runs it every STATS_ROLLUP_INTERVAL s). Logs
    only when it recomputed something (serve's worker also drops Celery's lines for it)."""
    buckets = event_statistics_rollup()
    if buckets:
        logger.info("Statistics rollup: %d hourly buckets recomputed.", buckets)
    return buckets


@shared_task(name="events.tasks.events_purge_scheduled", acks_late=True, ignore_result=True)
def events_purge_scheduled() -> dict:
    """The nightly retention run (what `manage.py purge_events --orphans` does). Safe to run
    twice: a second run finds nothing left to remove."""
    result = events_purge(trigger=PurgeRun.Trigger.SCHEDULE, orphans=True)
    return {
        "events_deleted": result.events_deleted,
        "images_cleared": result.images_cleared,
        **{f"{name}_deleted": count for name, count in result.steps.items()},
    }


#: Its name before it moved here from anpr.tasks: a message queued by the release before (it
#: may wait in the broker across the upgrade, acks_late) still runs. Remove after one release.
events_purge_scheduled_previous_name = shared_task(
    name="anpr.tasks.events_purge_scheduled", acks_late=True, ignore_result=True
)(events_purge_scheduled.run)
