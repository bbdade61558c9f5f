"""Reads of the exporters app: which exporters an event goes to, deliveries for the API and
admin."""

from django.db import connection
from django.db.models import Prefetch, QuerySet

from core.db import fetch_models, select_columns
from events.models import PlateEvent

from .models import ExportDelivery, ExportDeliveryEvent, ExporterConfig


def exporters_for_planning() -> list[ExporterConfig]:
    """Enabled exporters with their camera and zone filters as id sets (three queries)."""
    # Plain SQL: this runs on every ingest, where composing the queryset cost more than the
    # query (usually finding nothing).
    quote = connection.ops.quote_name
    exporters = fetch_models(
        ExporterConfig,
        f"SELECT {select_columns(ExporterConfig, 'e')} "
        f"FROM {quote(ExporterConfig._meta.db_table)} e WHERE e.{quote('enabled')} "
        f"ORDER BY e.{quote('id')}",
        [],
    )
    if not exporters:
        return []
    cameras = ExporterConfig.cameras.through.objects.filter(exporterconfig__enabled=True)
    zones = ExporterConfig.zones.through.objects.filter(exporterconfig__enabled=True)
    camera_ids: dict[int, set[int]] = {}
    zone_ids: dict[int, set[int]] = {}
    for exporter_id, camera_id in cameras.values_list("exporterconfig_id", "camera_id"):
        camera_ids.setdefault(exporter_id, set()).add(camera_id)
    for exporter_id, zone_id in zones.values_list("exporterconfig_id", "zone_id"):
        zone_ids.setdefault(exporter_id, set()).add(zone_id)
    for exporter in exporters:
        exporter.camera_ids = camera_ids.get(exporter.pk, set())
        exporter.zone_ids = zone_ids.get(exporter.pk, set())
        exporter.plate_set = set(exporter.plates)
    return exporters


def exporter_matches(exporter: ExporterConfig, event: PlateEvent) -> bool:
    """The exporter's filters (each empty filter lets everything through)."""
    if exporter.camera_ids and event.camera_id not in exporter.camera_ids:
        return False
    if exporter.zone_ids and event.zone_id not in exporter.zone_ids:
        return False
    if exporter.min_confidence is not None and (
        event.confidence is None or event.confidence < exporter.min_confidence
    ):
        return False
    return not exporter.plate_set or event.plate in exporter.plate_set


def delivery_list() -> QuerySet[ExportDelivery]:
    """Deliveries with their exporter and the ids of their events (no event rows loaded)."""
    return ExportDelivery.objects.select_related("exporter").prefetch_related(
        Prefetch("event_links", queryset=ExportDeliveryEvent.objects.only("delivery", "event"))
    )
