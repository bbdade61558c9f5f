"""Celery tasks of the events app; each calls one service and is safe to run twice."""

from celery import shared_task

from .services.rollup import event_statistics_rollup


@shared_task(name="events.tasks.event_statistics_rollup", ignore_result=True)
def event_statistics_rollup_task() -> int:
    """Keep the hourly statistics current (beat runs it every STATS_ROLLUP_INTERVAL s)."""
    return event_statistics_rollup()
