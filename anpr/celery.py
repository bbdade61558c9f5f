"""The Celery app. Workers run `celery -A anpr worker`; beat runs `celery -A anpr beat`.

Periodic tasks are listed in settings.CELERY_BEAT_SCHEDULE so their times can be overridden
from the environment.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anpr.settings")

app = Celery("anpr")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
