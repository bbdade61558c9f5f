"""The Celery app. Workers run `celery -A anpr worker`; beat runs `celery -A anpr beat`.

Periodic tasks are listed in settings.CELERY_BEAT_SCHEDULE so their times can be overridden
from the environment.
"""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

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
