from django.apps import AppConfig


class ExportersConfig(AppConfig):
    """What leaves the building: exporter configs and their delivery outbox."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "exporters"
