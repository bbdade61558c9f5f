"""Migration 0007: every exporter's exact `plates` filter becomes an exact alert watchlist it
is filtered by, so the exporter keeps sending the same reads."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from events.tests.factories import PlateEventFactory
from exporters.models import ExporterConfig
from exporters.services import deliveries_plan
from watchlists.services.matching import hits_record

BEFORE = [("exporters", "0006_send_hits_and_watchlist_filter")]
AFTER = [("exporters", "0008_remove_plates_filter")]


@pytest.fixture
def old_apps(transactional_db):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    # The models as the database has them: watchlists at its newest migration, as in an upgrade.
    watchlists_now = [n for n in executor.loader.graph.leaf_nodes() if n[0] == "watchlists"]
    yield executor.loader.project_state(BEFORE + watchlists_now).apps
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_plates_become_an_exact_watchlist_the_exporter_is_filtered_by(old_apps):
    Old = old_apps.get_model("exporters", "ExporterConfig")
    OldList = old_apps.get_model("watchlists", "Watchlist")
    OldList.objects.create(name="hotlist")  # the exporter's name is taken by a list
    Old.objects.create(name="hotlist", url="http://127.0.0.1/h", plates=["AB12CDE", "XY99ZZZ"])
    Old.objects.create(name="everything", url="http://127.0.0.1/e", plates=[])

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)

    hotlist = ExporterConfig.objects.get(name="hotlist")
    [watchlist] = hotlist.watchlists.all()
    assert watchlist.name == "hotlist (exporter)"
    assert (watchlist.kind, watchlist.match_strategy) == ("alert", "exact")
    assert watchlist.match_candidates is False and watchlist.enabled
    assert sorted(watchlist.entries.values_list("plate", flat=True)) == ["AB12CDE", "XY99ZZZ"]
    assert not ExporterConfig.objects.get(name="everything").watchlists.exists()
    assert hotlist.send == ["reads"]

    # The same reads as before: the listed plate, not its near miss.
    listed, near = PlateEventFactory(plate_raw="AB12CDE"), PlateEventFactory(plate_raw="AB12CDF")
    hits_record(events=[listed, near])
    planned = deliveries_plan(events=[listed, near])
    by_exporter = {(d.exporter.name, e.plate) for d in planned for e in d.events.all()}
    assert by_exporter == {
        ("hotlist", "AB12CDE"),
        ("everything", "AB12CDE"),
        ("everything", "AB12CDF"),
    }


def test_rolling_back_gives_filtered_exporters_their_plates_never_every_read(old_apps):
    """Back to 0006: the `plates` column returns empty, which means "every read"; an exporter
    filtered by lists gets their plates again, and one whose lists hold none is disabled."""
    from watchlists.tests.factories import WatchlistFactory, entry_add

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    hotlist = WatchlistFactory(name="Hotlist", match_strategy="ocr")
    entry_add(hotlist, "AB12CDE")
    entry_add(hotlist, "XY99ZZZ")
    patterns = WatchlistFactory(name="Patterns", match_strategy="pattern")
    entry_add(patterns, "AB*")
    ExporterConfig.objects.create(name="hot", url="http://127.0.0.1/h").watchlists.set([hotlist])
    ExporterConfig.objects.create(name="pat", url="http://127.0.0.1/p").watchlists.set([patterns])
    ExporterConfig.objects.create(name="all", url="http://127.0.0.1/a")

    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    Old = executor.loader.project_state(BEFORE).apps.get_model("exporters", "ExporterConfig")
    got = {e.name: (e.plates, e.enabled) for e in Old.objects.all()}
    assert got == {
        "hot": (["AB12CDE", "XY99ZZZ"], True),
        "pat": ([], False),
        "all": ([], True),
    }
