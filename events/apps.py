from django.apps import AppConfig


class EventsConfig(AppConfig):
    """Plate reads reported by edge devices: ingest, queries, statistics, live stream."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "events"
