"""Reads of the exporters app: which exporters an event goes to, deliveries for the API and
admin."""

from django.db import connection
from django.db.models import F, Prefetch, QuerySet

from core.db import fetch_models, select_columns
from events.models import PlateEvent
from watchlists.models import Hit, Watchlist
from watchlists.selectors import user_sees_covert, watchlists_visible
from watchlists.services.matching import read_lists_matched

from .models import ExportDelivery, ExportDeliveryEvent, ExportDeliveryHit, ExporterConfig

#: An exporter's filters by id: (attribute, M2M field, column of the other side).
_ID_FILTERS = (
    ("camera_ids", "cameras", "camera_id"),
    ("zone_ids", "zones", "zone_id"),
    ("watchlist_ids", "watchlists", "watchlist_id"),
)


def exporters_for_planning() -> list[ExporterConfig]:
    """Enabled exporters with their camera, zone and watchlist filters as id sets (two
    queries)."""
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
    # One query for the three filters of all of them.
    marks = ", ".join(["%s"] * len(exporters))
    parts = []
    for n, (_, field, column) in enumerate(_ID_FILTERS):
        table = quote(getattr(ExporterConfig, field).through._meta.db_table)
        parts.append(
            f"SELECT {n}, t.{quote('exporterconfig_id')}, t.{quote(column)} FROM {table} t "
            f"WHERE t.{quote('exporterconfig_id')} IN ({marks})"
        )
    ids = [exporter.pk for exporter in exporters]
    found: dict[tuple[int, int], set[int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), ids * len(_ID_FILTERS))
        for n, exporter_id, other_id in cursor.fetchall():
            found.setdefault((n, exporter_id), set()).add(other_id)
    for exporter in exporters:
        for n, (attribute, _, _) in enumerate(_ID_FILTERS):
            setattr(exporter, attribute, found.get((n, exporter.pk), set()))
    return exporters


def _place_matches(exporter: ExporterConfig, event: PlateEvent) -> bool:
    return (not exporter.camera_ids or event.camera_id in exporter.camera_ids) and (
        not exporter.zone_ids or event.zone_id in exporter.zone_ids
    )


def exporter_matches(exporter: ExporterConfig, event: PlateEvent) -> bool:
    """Whether the exporter takes this read: its filters (each empty filter lets everything
    through). A watchlist filter takes reads that matched one of its lists in the read's
    after-store step (watchlists runs before exporters)."""
    if not _place_matches(exporter, event):
        return False
    if exporter.min_confidence is not None and (
        event.confidence is None or event.confidence < exporter.min_confidence
    ):
        return False
    return not exporter.watchlist_ids or bool(exporter.watchlist_ids & read_lists_matched(event))


def exporter_takes_hit(exporter: ExporterConfig, hit: Hit, event: PlateEvent) -> bool:
    """Whether the exporter gets this hit of this read: its camera and zone filters, its
    watchlist filter, and least exposure for covert lists: their hits go only to exporters
    filtered by that very list (chosen by someone who may see it)."""
    if not _place_matches(exporter, event):
        return False
    if hit.watchlist.covert or exporter.watchlist_ids:
        return hit.watchlist_id in exporter.watchlist_ids
    return True


def delivery_list() -> QuerySet[ExportDelivery]:
    """Deliveries with their exporter and the ids of their events and hits (no event or hit
    rows loaded)."""
    return ExportDelivery.objects.select_related("exporter").prefetch_related(
        Prefetch("event_links", queryset=ExportDeliveryEvent.objects.only("delivery", "event")),
        Prefetch(
            "hit_links",
            queryset=ExportDeliveryHit.objects.only("delivery", "hit").annotate(
                watchlist_id=F("hit__watchlist_id")
            ),
        ),
    )


def _covert_hidden(user) -> QuerySet[Watchlist]:
    """The covert lists `user` may not see."""
    return Watchlist.objects.filter(covert=True).exclude(
        pk__in=watchlists_visible(user=user).values("pk")
    )


def deliveries_visible(*, user) -> QuerySet[ExportDelivery]:
    """The deliveries `user` may see: not those of an exporter filtered by a covert list the
    user may not see (its reads are that list's matches, its hits that list's hits)."""
    queryset = delivery_list()
    if user_sees_covert(user):
        return queryset
    return queryset.exclude(exporter__watchlists__in=_covert_hidden(user))


def exporter_covert_hidden(*, exporter: ExporterConfig, user) -> bool:
    """Whether the exporter is filtered by a covert list `user` may not see: then the user
    may not change it (a new URL would take that list's reads and hits elsewhere)."""
    if user_sees_covert(user):
        return False
    return exporter.watchlists.filter(pk__in=_covert_hidden(user).values("pk")).exists()
