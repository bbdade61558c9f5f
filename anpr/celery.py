"""The Celery app. Workers run `celery -A anpr worker`; beat runs `celery -A anpr beat`.

Periodic tasks are listed in settings.CELERY_BEAT_SCHEDULE so their times can be overridden
from the environment.
"""

import logging
import os
from pathlib import Path

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anpr.settings")

app = Celery("anpr")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _db_connections_checked(sender=None, **kwargs):
    """What Django does around each request: drop connections that broke or outlived
    CONN_MAX_AGE, keep the others (see CELERY_DB_REUSE_MAX in settings). Not for a task run
    eagerly (task.apply()), which shares its caller's connection and transaction."""
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


#: Periodic tasks that run every few seconds and usually find nothing to do: Celery's lines
#: for them (beat sending, the worker receiving, success) are about 15 a minute, which in
#: `manage.py serve`'s terminal bury everything else. serve's worker drops them
#: (ANPR_QUIET_PERIODIC_TASKS=1); a deployment's beat and worker logs keep them as the record
#: that beat keeps time. The tasks themselves log only when they did something.
QUIET_WHEN_IDLE = frozenset(
    {
        "exporters.tasks.exporter_deliveries_sweep",
        "events.tasks.event_statistics_rollup",
        "watchlists.tasks.watchlist_sources_sweep",
    }
)


class PeriodicNoiseFilter(logging.Filter):
    """Drops Celery's INFO lines about the QUIET_WHEN_IDLE tasks; failures still pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        args = record.args
        if isinstance(args, dict):  # the worker's "received" and "succeeded" lines
            return args.get("name") not in QUIET_WHEN_IDLE
        if isinstance(args, tuple) and len(args) == 2:  # beat's "Sending due task %s (%s)"
            return args[1] not in QUIET_WHEN_IDLE
        return True


if os.environ.get("ANPR_QUIET_PERIODIC_TASKS") == "1":
    for _name in ("celery.beat", "celery.worker.strategy", "celery.app.trace"):
        logging.getLogger(_name).addFilter(PeriodicNoiseFilter())


@worker_ready.connect
def _ready_file_touched(**kwargs):
    """`manage.py serve` prints the one-time credentials once everything is up: it names a
    file in ANPR_WORKER_READY_FILE and waits for it to appear."""
    path = os.environ.get("ANPR_WORKER_READY_FILE")
    if path:
        Path(path).touch()
