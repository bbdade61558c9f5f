"""The enabled lists a read is matched against, with their scope: all of them
(`lists_enabled`), or those watching the read's camera as the device's camera query answers
(`lists_of_camera_sql`, the matching step's work_sql; `lists_parsed` reads the answer)."""

import json
from dataclasses import dataclass, field

from django.db import connection

from events.models import PlateEvent

from ..models import Watchlist
from ..schedule import schedule_active


@dataclass
class ListInScope:
    """An enabled list as matching needs it (its scope loaded once per batch)."""

    watchlist: Watchlist
    camera_ids: set = field(default_factory=set)
    zone_ids: set = field(default_factory=set)

    def covers(self, event: PlateEvent) -> bool:
        w = self.watchlist
        return (
            (not self.camera_ids or event.camera_id in self.camera_ids)
            and (not self.zone_ids or event.zone_id in self.zone_ids)
            and (not w.directions or event.direction in w.directions)
            and schedule_active(
                weekdays=w.schedule_weekdays,
                windows=w.schedule_windows,
                time_zone=w.time_zone,
                at=event.captured_at,
            )
        )


def lists_enabled() -> list[ListInScope]:
    """The enabled lists with their camera and zone scope (three queries)."""
    lists = {w.pk: ListInScope(w) for w in Watchlist.objects.filter(enabled=True)}
    if lists:
        for through, target in (
            (Watchlist.cameras.through, "camera"),
            (Watchlist.zones.through, "zone"),
        ):
            pairs = through.objects.filter(watchlist_id__in=lists)
            for list_id, other_id in pairs.values_list("watchlist_id", f"{target}_id"):
                getattr(lists[list_id], f"{target}_ids").add(other_id)
    return list(lists.values())


#: Fields of a list that the camera query hands over (see lists_of_camera_sql).
_LIST_FIELDS = (
    "id",
    "name",
    "kind",
    "priority",
    "colour",
    "match_strategy",
    "edit_budget",
    "match_candidates",
    "directions",
    "schedule_weekdays",
    "schedule_windows",
    "time_zone",
    "covert",
    "notify_emails",
)
_JSON_FIELDS = {"directions", "schedule_weekdays", "schedule_windows", "notify_emails"}
#: Parsed answers of the camera query, by their text (a few distinct ones per process).
_parsed: dict[str, list[ListInScope]] = {}


def lists_parsed(text: str | None) -> list[ListInScope]:
    """The lists of a camera query's answer (NULL: no list watches the camera)."""
    if not isinstance(text, str):
        return []
    if text not in _parsed:
        if len(_parsed) > 100:
            _parsed.clear()
        _parsed[text] = [
            ListInScope(
                Watchlist(**{k: v for k, v in item.items() if k != "zones"}),
                zone_ids=set(item["zones"]),
            )
            for item in json.loads(text)
        ]
    return _parsed[text]


def lists_of_camera_sql() -> str:
    """The enabled lists watching camera `c` as JSON text (NULL when none: the step is then
    skipped for its reads): those with no cameras named, or naming it. Zones, directions
    and schedules are left to each read."""
    quote = connection.ops.quote_name
    table = quote(Watchlist._meta.db_table)
    cameras = quote(Watchlist.cameras.through._meta.db_table)
    zones = quote(Watchlist.zones.through._meta.db_table)
    postgresql = connection.vendor == "postgresql"
    pairs = ", ".join(
        f"'{name}', "
        + (
            f"w.{quote(name)}"
            if postgresql or name not in _JSON_FIELDS
            else f"json(w.{quote(name)})"
        )
        for name in _LIST_FIELDS
    )
    obj, agg = (
        ("json_build_object", "json_agg") if postgresql else ("json_object", "json_group_array")
    )
    zone_ids = f"(SELECT {agg}(z.zone_id) FROM {zones} z WHERE z.watchlist_id = w.id)"
    if postgresql:
        zone_ids = f"coalesce({zone_ids}, '[]'::json)"
    else:
        zone_ids = f"json(coalesce({zone_ids}, '[]'))"
    watching = (
        f"(NOT EXISTS (SELECT 1 FROM {cameras} m WHERE m.watchlist_id = w.id) "
        f"OR EXISTS (SELECT 1 FROM {cameras} m WHERE m.watchlist_id = w.id "
        f"AND m.camera_id = c.{quote('id')}))"
    )
    # No list: NULL (json_agg of no rows is NULL; json_group_array's '[]' is made NULL, as
    # SQLite before 3.39 refuses HAVING without GROUP BY).
    listed = f"{agg}({obj}({pairs}, 'zones', {zone_ids}))"
    listed = f"{listed}::text" if postgresql else f"nullif({listed}, '[]')"
    return f"(SELECT {listed} FROM {table} w WHERE w.{quote('enabled')} AND {watching})"
