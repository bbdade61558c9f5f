from django.apps import AppConfig


class WatchlistsConfig(AppConfig):
    """Plates of interest: lists, their entries, and the hits reads raise against them."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "watchlists"

    def ready(self):
        from events.after_store import after_store_register
        from events.live_kinds import live_kind_register

        from .live import HIT_LIVE_KIND
        from .services.matching import MATCHING_STEP

        after_store_register(MATCHING_STEP)
        live_kind_register(HIT_LIVE_KIND)
