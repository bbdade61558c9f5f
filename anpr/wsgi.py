"""WSGI entry point for gunicorn's sync workers: one persistent DB connection per worker,
and a short middleware stack for the device endpoints (anpr/handlers.py).

The loaded project's objects are frozen out of the garbage collector, as in asgi.py: a full
collection over them paused a request for 50-150 ms.
"""

import gc
import os

from django.core.cache import caches
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anpr.settings")
os.environ.setdefault("DB_CONNECTIONS", "persistent")

web_application = get_wsgi_application()  # sets Django up

from anpr.handlers import application_with_device_stack  # noqa: E402 (needs the app registry)

application = application_with_device_stack(web_application)
# The cache client is made now rather than by a request: Django's request_finished receiver
# (close_caches) asks each request whether this process made one, and a "no" costs it an
# exception in asgiref's Local (1.5% of a device read's instructions).
caches["default"]  # noqa: B018
gc.freeze()
