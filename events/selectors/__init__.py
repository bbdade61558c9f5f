"""Reads of the events app: the event list and the OCR-tolerant plate search (statistics:
`selectors.statistics`)."""

from django.db import connection
from django.db.models import F, QuerySet, Value

from ..models import PlateEvent
from ..reads import plate_confusion_key, plate_normalize


def plate_events_query() -> QuerySet[PlateEvent]:
    """Events with what their API representation shows (camera slug and name, zone name),
    and of their camera and zone only that: a page of 50 then converts a third of the values."""
    return PlateEvent.objects.select_related("camera", "zone").only(
        *(field.name for field in PlateEvent._meta.concrete_fields),
        "camera__slug",
        "camera__name",
        "zone__name",
    )


#: How alike two confusion keys must be (pg_trgm similarity) for a search to match: a key one
#: character off anywhere scores 0.45 or more; the `%` operator's own 0.3 lets in too much.
SEARCH_SIMILARITY = 0.45
#: Keys a search may expand to; a vaguer search is cut here.
SEARCH_MAX_KEYS = 500


def plate_events_search(queryset: QuerySet[PlateEvent], text: str) -> QuerySet[PlateEvent]:
    """Events whose plate a camera may have misread as `text`: the same OCR-confusion key
    (8ABC123 finds BABC123 and BA8C123), or on PostgreSQL a trigram-similar key (one character
    more, less or different); SQLite has no trigrams and matches the key as a substring.

    On PostgreSQL the similar keys are found first (trigram GIN index) and the events then by
    key (btree), so the planner never walks the whole time index testing similarity."""
    key = plate_confusion_key(text)
    if not key:
        return queryset.none()
    if connection.vendor == "postgresql":
        from django.contrib.postgres.lookups import TrigramSimilar
        from django.contrib.postgres.search import TrigramSimilarity
        from django.db.models.lookups import GreaterThanOrEqual

        with connection.cursor() as cursor:
            # `%` (and with it the GIN index scan) then lets through only keys this alike,
            # instead of rechecking every row that passes the default 0.3.
            cursor.execute(
                "SELECT set_config('pg_trgm.similarity_threshold', %s, false)",
                [str(SEARCH_SIMILARITY)],
            )
        similar = (
            PlateEvent.objects.filter(
                TrigramSimilar(F("plate_key"), Value(key)),
                GreaterThanOrEqual(TrigramSimilarity("plate_key", Value(key)), SEARCH_SIMILARITY),
            )
            .order_by()
            .values_list("plate_key", flat=True)
            .distinct()[:SEARCH_MAX_KEYS]
        )
        return queryset.filter(plate_key__in={key, *similar})
    if len(key) < 3:
        return queryset.filter(plate_key=key)
    return queryset.filter(plate_key__contains=key)


def plate_prefix_filter(queryset: QuerySet[PlateEvent], prefix: str) -> QuerySet[PlateEvent]:
    prefix = plate_normalize(prefix)
    return queryset.filter(plate__startswith=prefix) if prefix else queryset.none()


# --- Statistics -----------------------------------------------------------------------------
