from django.apps import AppConfig


class WatchlistsConfig(AppConfig):
    """Plates of interest: lists, their entries, and the hits reads raise against them."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "watchlists"

    def ready(self):
        from cameras.directory import device_directory
        from core.pages import OperatorPage, operator_page_register
        from events.after_store import after_store_register
        from events.live_kinds import live_kind_register
        from events.purge_steps import PurgeStep, purge_step_register

        from .entry_index import CHANNEL
        from .live import HIT_LIVE_KIND
        from .services.matching import MATCHING_STEP
        from .services.retention import hits_purge

        after_store_register(MATCHING_STEP)
        live_kind_register(HIT_LIVE_KIND)
        purge_step_register(PurgeStep(name="hits", purge=hits_purge))
        operator_page_register(
            OperatorPage(url_name="hits", label="Hits", order=25, permission="watchlists.view_hit")
        )
        device_directory.hear(CHANNEL)  # the entry index's changes
