"""Periodic tasks of operations. Beat (settings.CELERY_BEAT_SCHEDULE) queues them; they call
the same services as the manage.py commands."""

from celery import shared_task

from events.models import PurgeRun
from events.services.retention import events_purge


@shared_task(name="anpr.tasks.events_purge_scheduled", acks_late=True, ignore_result=True)
def events_purge_scheduled() -> dict:
    """The nightly retention run (what `manage.py purge_events --orphans` does). Safe to run
    twice: a second run finds nothing left to remove."""
    result = events_purge(trigger=PurgeRun.Trigger.SCHEDULE, orphans=True)
    return {"events_deleted": result.events_deleted, "images_cleared": result.images_cleared}
