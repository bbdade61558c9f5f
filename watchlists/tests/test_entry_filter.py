"""The per-process key filter (watchlists/entry_filter.py): a read that is certainly not
listed is stored without a database lookup of entries or a transaction, and the filter is
never wrong about a listed plate: an entry added, changed or removed by another process
counts from the very next read."""

import string
import time
from array import array

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st

from cameras.directory import device_directory
from cameras.tests.test_device_directory import cached, elsewhere, post  # noqa: F401
from watchlists import entry_filter as module
from watchlists import keys
from watchlists.entry_filter import CHANNEL, KeyFilter, entry_filter
from watchlists.models import Hit

from .factories import WatchlistFactory, entry_add

_MASK = (1 << 64) - 1
plates = st.text(alphabet=string.ascii_uppercase + string.digits, min_size=2, max_size=10)


def filter_of(stored: set[str]) -> KeyFilter:
    return KeyFilter(array("Q", (hash(key) & _MASK for key in stored)))


@settings(max_examples=200, deadline=None)
@given(entries=st.lists(plates, min_size=1, max_size=60), budget=st.sampled_from([0, 1, 2]))
def test_the_filter_holds_every_key_a_matching_read_looks_up(entries, budget):
    stored = set()
    for plate in entries:
        for strategy in (keys.EXACT, keys.OCR):
            stored.add(keys.entry_match_key(strategy=strategy, plate=plate))
            stored |= keys.entry_variant_keys(strategy=strategy, plate=plate, budget=budget)
    found = filter_of(stored)
    assert all(key in found for key in stored)
    for plate in entries:
        # The read of a listed plate (as listed, and, on a list with an edit budget and a
        # plate long enough for it, one deletion off) shares a key with it.
        edited = budget and len(plate) >= keys.BUDGET_MIN_LENGTH[1]
        for read in {plate, plate[1:]} if edited else {plate}:
            assert any(key in found for key in keys.read_keys(read, budget=budget))


def test_absent_keys_are_mostly_answered_absent():
    stored = {f"O{n:07d}" for n in range(20_000)}
    found = filter_of(stored)
    maybes = sum(f"E{n:07d}" in found for n in range(100_000))
    assert maybes < 50  # about 1 in 20,000


pytestmark_db = pytest.mark.django_db(transaction=True)


@pytest.fixture
def inline(cached, monkeypatch):  # noqa: F811
    """The filter of this test process, built inline (no thread) and from scratch."""
    monkeypatch.setattr(entry_filter, "background", False)
    entry_filter.forget()
    yield
    entry_filter.forget()


def heard_moved(before):
    """Wait until PostgreSQL delivered an entry change's notification to this process."""
    deadline = time.monotonic() + 5
    while device_directory.heard(CHANNEL) == before and time.monotonic() < deadline:
        time.sleep(0.001)
    assert device_directory.heard(CHANNEL) != before, "no notification from PostgreSQL"


def step_ran(queries) -> bool:
    """Whether the matching step ran: its savepoint, or its lookup of entries (not the
    filter's own rebuild, a COPY)."""
    return any(
        "SAVEPOINT" in q["sql"]
        or ("watchlists_watchlistentry" in q["sql"] and not q["sql"].startswith("COPY"))
        for q in queries
    )


@pytestmark_db
def test_an_unlisted_read_at_a_watched_camera_runs_no_matching(inline, device_client, camera):
    listed = WatchlistFactory(match_strategy="ocr", match_candidates=True)
    entry_add(listed, "FIL7ER1")
    assert post(device_client, camera.slug, plate="OTHER12").status_code == 201  # warm
    with CaptureQueriesContext(connection) as queries:
        response = post(
            device_client, camera.slug, plate="NOPE123", candidates=[{"plate": "NOPE124"}]
        )
    assert response.status_code == 201
    assert not step_ran(queries.captured_queries)
    with CaptureQueriesContext(connection) as queries:
        # Listed as a candidate, with an OCR confusion (I for 1).
        response = post(
            device_client, camera.slug, plate="NOPE123", candidates=[{"plate": "FIL7ERI"}]
        )
    assert response.status_code == 201
    assert step_ran(queries.captured_queries)
    assert Hit.objects.get().plate == "FIL7ERI"


@pytestmark_db
def test_entries_added_changed_or_removed_elsewhere_count_from_the_next_read(
    inline,
    device_client,
    camera,
    elsewhere,  # noqa: F811
):
    listed = WatchlistFactory(match_strategy="exact")
    entry = entry_add(listed, "FIRST11")
    assert post(device_client, camera.slug, plate="FIRST11").status_code == 201
    assert Hit.objects.count() == 1
    Hit.objects.all().delete()
    before = device_directory.heard(CHANNEL)
    # Another process re-keys the entry to a new plate (as the service would).
    elsewhere.execute(
        "UPDATE watchlists_watchlistentry SET plate = 'NEXT222', match_key = 'ENEXT222' "
        "WHERE id = %s",
        [entry.pk],
    )
    heard_moved(before)
    assert post(device_client, camera.slug, plate="NEXT222").status_code == 201
    assert Hit.objects.count() == 1
    assert post(device_client, camera.slug, plate="FIRST11").status_code == 201
    assert Hit.objects.count() == 1  # the old plate is no longer listed
    before = device_directory.heard(CHANNEL)
    elsewhere.execute("DELETE FROM watchlists_watchlistentry WHERE id = %s", [entry.pk])
    heard_moved(before)
    Hit.objects.all().delete()
    with CaptureQueriesContext(connection) as queries:
        assert post(device_client, camera.slug, plate="NEXT222").status_code == 201
    assert not Hit.objects.exists()
    assert not step_ran(queries.captured_queries)  # the rebuilt filter knows it is gone


@pytestmark_db
def test_a_new_entry_hits_on_the_next_read_without_waiting_for_a_rebuild(
    cached,  # noqa: F811
    device_client,
    camera,
    elsewhere,  # noqa: F811
):
    """Background builds (as in production): until the rebuilt filter is in, reads take the
    database path, so a new entry hits at once."""
    entry_filter.forget()
    listed = WatchlistFactory(match_strategy="ocr")
    entry_add(listed, "OLD1234")
    assert post(device_client, camera.slug, plate="WARM123").status_code == 201
    assert entry_filter.wait(10) is not None
    before = device_directory.heard(CHANNEL)
    elsewhere.execute(
        "INSERT INTO watchlists_watchlistentry (id, watchlist_id, plate, match_key, plate_raw, "
        "description, category, reference, make, colour, country, created_at, updated_at) "
        "VALUES (gen_random_uuid(), %s, 'NEW1234', 'ONEW1234', 'NEW1234', '', 'other', '', "
        "'', '', '', now(), now())",
        [listed.pk],
    )
    heard_moved(before)
    assert post(device_client, camera.slug, plate="NEW1234").status_code == 201
    assert Hit.objects.get().plate == "NEW1234"
    entry_filter.wait(10)
    entry_filter.forget()


@pytestmark_db
def test_a_disabled_list_raises_no_hits_though_its_keys_stay_in_the_filter(
    inline,
    device_client,
    camera,
    elsewhere,  # noqa: F811
):
    from cameras.tests.test_device_directory import delivered

    listed = WatchlistFactory(match_strategy="exact")
    entry_add(listed, "OFF1234")
    assert post(device_client, camera.slug, plate="OFF1234").status_code == 201
    assert Hit.objects.count() == 1
    Hit.objects.all().delete()
    elsewhere.execute("UPDATE watchlists_watchlist SET enabled = false WHERE id = %s", [listed.pk])
    delivered()
    assert post(device_client, camera.slug, plate="OFF1234").status_code == 201
    assert not Hit.objects.exists()


@pytestmark_db
def test_reads_still_hit_when_the_filter_cannot_be_built(
    inline, device_client, camera, monkeypatch, caplog
):
    def broken():
        raise RuntimeError("no filter today")

    monkeypatch.setattr(module, "keys_hashes", broken)
    listed = WatchlistFactory(match_strategy="ocr")
    entry_add(listed, "FALL8CK")
    assert post(device_client, camera.slug, plate="FALLBCK").status_code == 201
    assert Hit.objects.get().plate == "FALLBCK"
    assert "filter not built" in caplog.text
    assert entry_filter.current() is None


@pytestmark_db
def test_without_the_device_cache_every_read_asks_the_database(device_client, camera, settings):
    settings.DEVICE_CACHE_SECONDS = 0
    entry_filter.forget()
    listed = WatchlistFactory(match_strategy="exact")
    entry_add(listed, "NOCACHE")
    assert post(device_client, camera.slug, plate="NOCACHE").status_code == 201
    assert Hit.objects.count() == 1
    assert entry_filter.current() is None
