"""WSGI entry point for gunicorn's sync workers: one persistent DB connection per worker."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anpr.settings")
os.environ.setdefault("DB_CONNECTIONS", "persistent")

application = get_wsgi_application()
