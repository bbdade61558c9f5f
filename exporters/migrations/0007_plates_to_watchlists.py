"""The exporters' exact `plates` filter becomes a filter by watchlist (one hotlist mechanism):
every exporter with plates gets an `exact` alert list of them, named after it, and is
filtered by it. The list matches the read's plate only (no candidates), all day, at every
camera, as the plates filter did. The next migration removes `plates`. Reversible: see
watchlists_to_plates."""

from django.db import migrations

from events.reads import plate_normalize
from watchlists.keys import EXACT, PATTERN, entry_match_key

NAME_MAX = 100


def _list_name(Watchlist, exporter_name: str) -> str:
    """The exporter's name, or "<name> (exporter)" / "... 2" when a list has it already."""
    for suffix in ("", " (exporter)", *(f" (exporter {n})" for n in range(2, 1000))):
        name = exporter_name[: NAME_MAX - len(suffix)] + suffix
        if not Watchlist.objects.filter(name=name).exists():
            return name
    raise RuntimeError(f"No free watchlist name for exporter {exporter_name!r}.")


def plates_to_watchlists(apps, schema_editor):
    ExporterConfig = apps.get_model("exporters", "ExporterConfig")
    Watchlist = apps.get_model("watchlists", "Watchlist")
    WatchlistEntry = apps.get_model("watchlists", "WatchlistEntry")
    for exporter in ExporterConfig.objects.order_by("pk"):
        raw = exporter.plates if isinstance(exporter.plates, list) else []
        plates = {}
        for value in raw:
            plate = plate_normalize(value) if isinstance(value, str) else ""
            if plate and len(plate) <= 32:
                plates.setdefault(plate, value.strip()[:32])
        if not plates:
            continue
        watchlist = Watchlist.objects.create(
            name=_list_name(Watchlist, exporter.name),
            kind="alert",
            match_strategy=EXACT,
            match_candidates=False,
            edit_budget=0,
        )
        WatchlistEntry.objects.bulk_create(
            WatchlistEntry(
                watchlist=watchlist,
                plate=plate,
                plate_raw=raw_plate,
                match_key=entry_match_key(strategy=EXACT, plate=plate),
                description=f"From the plates filter of exporter {exporter.name}"[:500],
            )
            for plate, raw_plate in sorted(plates.items())
        )
        exporter.watchlists.add(watchlist)


def watchlists_to_plates(apps, schema_editor):
    """Back: an exporter filtered by lists gets their plates (a pattern entry cannot be one;
    fuzzy lists become exact), so a rollback never widens it to every read; one left with no
    plate is disabled. The lists stay."""
    ExporterConfig = apps.get_model("exporters", "ExporterConfig")
    WatchlistEntry = apps.get_model("watchlists", "WatchlistEntry")
    for exporter in ExporterConfig.objects.order_by("pk"):
        list_ids = list(exporter.watchlists.values_list("pk", flat=True))
        if not list_ids:
            continue
        entries = WatchlistEntry.objects.filter(watchlist_id__in=list_ids).exclude(
            watchlist__match_strategy=PATTERN
        )
        exporter.plates = sorted(set(entries.values_list("plate", flat=True)))
        if not exporter.plates:
            exporter.enabled = False
            exporter.last_error = "Disabled: its watchlist filter has no plate to keep."
        exporter.save(update_fields=["plates", "enabled", "last_error"])


class Migration(migrations.Migration):
    dependencies = [
        ("exporters", "0006_send_hits_and_watchlist_filter"),
        ("watchlists", "0003_hit_notify_emails"),
    ]

    operations = [migrations.RunPython(plates_to_watchlists, watchlists_to_plates)]
