from django.apps import AppConfig


class EventsConfig(AppConfig):
    """Plate reads reported by edge devices: ingest, queries, statistics, live stream."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "events"

    def ready(self):
        from core.pages import OperatorPage, operator_page_register

        operator_page_register(
            OperatorPage(
                url_name="home", label="Live map", order=10, permission="events.view_plateevent"
            )
        )
        operator_page_register(
            OperatorPage(
                url_name="dashboard",
                label="Dashboard",
                order=20,
                permission="events.view_eventstatistics",  # what its data asks for
            )
        )
        operator_page_register(
            OperatorPage(
                url_name="search", label="Search", order=30, permission="events.view_plateevent"
            )
        )
