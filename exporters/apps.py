from django.apps import AppConfig


class ExportersConfig(AppConfig):
    """What leaves the building: exporter configs and their delivery outbox."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "exporters"

    def ready(self):
        from events.after_store import after_store_register

        from .services.planning import PLANNING_STEP
        from .services.watchlist_filters import watchlist_filters_connect

        after_store_register(PLANNING_STEP)
        watchlist_filters_connect()
