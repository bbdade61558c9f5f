from django.apps import AppConfig


class WatchlistsConfig(AppConfig):
    """Plates of interest: lists, their entries, and the hits reads raise against them."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "watchlists"

    def ready(self):
        from cameras.directory import device_directory
        from events.after_store import after_store_register

        from .entry_filter import CHANNEL
        from .services.matching import MATCHING_STEP

        after_store_register(MATCHING_STEP)
        device_directory.hear(CHANNEL)  # the entry key filter's changes
