"""WSGI entry point for gunicorn's sync workers: one persistent DB connection per worker.

The loaded project's objects are frozen out of the garbage collector, as in asgi.py: a full
collection over them paused a request for 50-150 ms.
"""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anpr.settings")
os.environ.setdefault("DB_CONNECTIONS", "persistent")

application = get_wsgi_application()
gc.freeze()
