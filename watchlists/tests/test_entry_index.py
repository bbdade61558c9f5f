"""The per-process entry index (watchlists/entry_index.py): deciding a read's hits needs no
database round trip, a read that is certainly not listed is stored without a transaction,
and the index is never wrong about a listed plate: an entry added, changed or removed, or a
list enabled or disabled, by another process counts from the very next read."""

import random
import string
import time
import tracemalloc
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st

from cameras.directory import device_directory
from cameras.tests.test_device_directory import cached, elsewhere, post  # noqa: F401
from watchlists import entry_index as module
from watchlists import keys
from watchlists.entry_index import CHANNEL, EntryIndex, entry_index
from watchlists.models import Hit, Watchlist
from watchlists.services import matching
from watchlists.services.matching import _cost

from .factories import WatchlistFactory, entry_add

plates = st.text(alphabet=string.ascii_uppercase + string.digits, min_size=2, max_size=10)


def index_of(entries: list[tuple[str, int]], strategy: str) -> tuple[EntryIndex, dict]:
    """An index of these (plate, budget) entries, one list per budget, as the COPY gives
    them (further keys first, as a parallel scan may); {entry id: (plate, list)}."""
    rows, further, known = [], [], {}
    for plate, budget in entries:
        entry_id = str(uuid.uuid4())
        own = keys.entry_match_key(strategy=strategy, plate=plate)
        rows.append(["e", entry_id, str(budget), own, plate, r"\N", r"\N", str(budget)])
        for key in keys.entry_variant_keys(strategy=strategy, plate=plate, budget=budget):
            further.append(["k", entry_id, r"\N", key, r"\N", r"\N", r"\N", r"\N"])
        known[uuid.UUID(entry_id)] = (plate, budget)
    return EntryIndex(further + rows), known


@settings(max_examples=150, deadline=None)
@given(
    entries=st.lists(st.tuples(plates, st.sampled_from([0, 1, 2])), min_size=1, max_size=40),
    reads=st.lists(plates, min_size=1, max_size=10),
    strategy=st.sampled_from([keys.EXACT, keys.OCR]),
    edited=st.randoms(use_true_random=False),
)
def test_the_index_finds_exactly_the_entries_a_read_matches(entries, reads, strategy, edited):
    """Against every entry tried one by one: the index finds each entry within its list's
    budget (reads derived from listed plates by an edit or an OCR confusion included), and
    what it finds verifies as the database path's entries do."""
    index, known = index_of(entries, strategy)
    for plate, _ in entries[:5]:  # reads near listed plates, not only random ones
        at = edited.randrange(len(plate))
        reads += [plate[:at] + plate[at + 1 :], plate[:at] + "X" + plate[at + 1 :]]
        reads.append(plate.replace("0", "O").replace("B", "8"))
    for read in filter(None, reads):
        expected = set()
        for entry_id, (plate, budget) in known.items():
            listed = Watchlist(pk=budget, match_strategy=strategy, edit_budget=budget)
            own = keys.entry_match_key(strategy=strategy, plate=plate)
            found = module.EntryFound(entry_id, budget, own)
            if _cost(found, listed, read) is not None:
                expected.add(entry_id)
        got, wanted = set(), keys.read_keys([read], strategies={strategy}, budget=2)
        for found in index.entries_found(keys=wanted.own, further=wanted.deletions):
            budget = known[found.entry_id][1]
            listed = Watchlist(pk=budget, match_strategy=strategy, edit_budget=budget)
            assert found.watchlist_id == budget
            if _cost(found, listed, read) is not None:
                got.add(found.entry_id)
        assert got == expected, read


@settings(max_examples=500, deadline=None)
@given(entry=plates, read=plates, limit=st.sampled_from([0, 1, 2]))
def test_the_quick_distance_is_the_edit_tables(entry, read, limit):
    found = keys.plate_edits(entry, read, limit=limit)
    assert keys.plate_distance(entry, read, limit=limit) == (found and found[0])
    near = read[:1] + entry[1:]  # one substitution or none, often
    found = keys.plate_edits(entry, near, limit=limit)
    assert keys.plate_distance(entry, near, limit=limit) == (found and found[0])


def test_keys_no_entry_has_are_answered_absent():
    index, _ = index_of([(f"{n:07d}", 0) for n in range(20_000)], keys.OCR)
    assert not any(index.entries_found(keys=[f"E{n:07d}"]) for n in range(100_000))
    assert all(index.entries_found(keys=[f"O{n:07d}"]) for n in random.sample(range(20_000), 500))


def test_validity_windows_and_pattern_entries_are_kept():
    entry_id = str(uuid.uuid4())
    rows = [
        ["e", entry_id, "7", "OABC123", "ABC123", "100.5", r"\N", "0"],
        ["e", str(uuid.uuid4()), "8", "", "AB*", r"\N", r"\N", "0"],
    ]
    index = EntryIndex(rows)
    [found] = index.entries_found(keys=["OABC123"])
    assert (found.entry_id, found.watchlist_id, found.valid_from) == (uuid.UUID(entry_id), 7, 100.5)
    assert not found.valid_at(100.0) and found.valid_at(100.5)
    [pattern] = index.entries_found(keys=[], patterned=[8])
    assert pattern.key == "AB*"


pytestmark_db = pytest.mark.django_db(transaction=True)


@pytest.fixture
def inline(cached, monkeypatch):  # noqa: F811
    """The index of this test process, built inline (no thread) and from scratch."""
    monkeypatch.setattr(entry_index, "background", False)
    entry_index.forget()
    yield
    entry_index.forget()


def heard_moved(before):
    """Wait until PostgreSQL delivered an entry change's notification to this process."""
    deadline = time.monotonic() + 5
    while device_directory.heard(CHANNEL) == before and time.monotonic() < deadline:
        time.sleep(0.001)
    assert device_directory.heard(CHANNEL) != before, "no notification from PostgreSQL"


def step_ran(queries) -> bool:
    """Whether the matching step ran: its savepoint, or its lookup of entries (not the
    index's own rebuild, a COPY)."""
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
def test_a_read_that_only_shares_a_deletion_key_needs_no_transaction(inline, device_client, camera):
    """On a list with an edit budget a read often shares a deletion key with some entry
    without being within its budget (two edits: KMNPRTW and MNPRTWX share MNPRTW): the index
    decides before the ingest, so such a read stays one INSERT."""
    listed = WatchlistFactory(match_strategy="ocr", edit_budget=1)
    entry_add(listed, "KMNPRTW")
    assert post(device_client, camera.slug, plate="WARM123").status_code == 201  # builds it
    with CaptureQueriesContext(connection) as queries:
        assert post(device_client, camera.slug, plate="MNPRTWX").status_code == 201
    assert not step_ran(queries.captured_queries) and not Hit.objects.exists()
    with CaptureQueriesContext(connection) as queries:
        assert post(device_client, camera.slug, plate="KMNPRTX").status_code == 201  # 1 edit
    assert step_ran(queries.captured_queries) and Hit.objects.get().plate == "KMNPRTX"


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
    assert not step_ran(queries.captured_queries)  # the rebuilt index knows it is gone


@pytestmark_db
def test_a_new_entry_hits_on_the_next_read_without_waiting_for_a_rebuild(
    cached,  # noqa: F811
    device_client,
    camera,
    elsewhere,  # noqa: F811
):
    """Background builds (as in production): until the rebuilt index is in, reads take the
    database path, so a new entry hits at once."""
    entry_index.forget()
    listed = WatchlistFactory(match_strategy="ocr")
    entry_add(listed, "OLD1234")
    assert post(device_client, camera.slug, plate="WARM123").status_code == 201
    assert entry_index.wait(10) is not None
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
    entry_index.wait(10)
    entry_index.forget()


@pytestmark_db
def test_a_list_disabled_or_enabled_elsewhere_counts_from_the_next_read(
    inline,
    device_client,
    camera,
    elsewhere,  # noqa: F811
):
    """The index holds the enabled lists' entries only: a list disabled elsewhere leaves it
    (its plate's read at a camera another list watches needs no transaction), and enabled
    again, its plate hits on the next read (migration 0007's trigger)."""
    listed = WatchlistFactory(match_strategy="exact")
    entry_add(listed, "OFF1234")
    entry_add(WatchlistFactory(match_strategy="exact"), "OTHER99")  # keeps the camera watched
    assert post(device_client, camera.slug, plate="OFF1234").status_code == 201
    assert Hit.objects.count() == 1
    Hit.objects.all().delete()
    for enabled in (False, True):
        before = device_directory.heard(CHANNEL)
        elsewhere.execute(
            "UPDATE watchlists_watchlist SET enabled = %s WHERE id = %s", [enabled, listed.pk]
        )
        heard_moved(before)
        with CaptureQueriesContext(connection) as queries:
            assert post(device_client, camera.slug, plate="OFF1234").status_code == 201
        assert Hit.objects.exists() is enabled
        assert step_ran(queries.captured_queries) is enabled
    before = device_directory.heard(CHANNEL)
    elsewhere.execute("UPDATE watchlists_watchlist SET name = 'renamed' WHERE id = %s", [listed.pk])
    time.sleep(0.05)
    assert device_directory.heard(CHANNEL) == before  # a change matching ignores: no rebuild


@pytestmark_db
def test_reads_still_hit_when_the_index_cannot_be_built(
    inline, device_client, camera, monkeypatch, caplog
):
    def broken():
        raise RuntimeError("no index today")

    monkeypatch.setattr(module, "index_rows", broken)
    listed = WatchlistFactory(match_strategy="ocr")
    entry_add(listed, "FALL8CK")
    assert post(device_client, camera.slug, plate="FALLBCK").status_code == 201
    assert Hit.objects.get().plate == "FALLBCK"
    assert "index not built" in caplog.text
    assert entry_index.current() is None


@pytestmark_db
def test_without_the_device_cache_every_read_asks_the_database(device_client, camera, settings):
    settings.DEVICE_CACHE_SECONDS = 0
    entry_index.forget()
    listed = WatchlistFactory(match_strategy="exact")
    entry_add(listed, "NOCACHE")
    assert post(device_client, camera.slug, plate="NOCACHE").status_code == 201
    assert Hit.objects.count() == 1
    assert entry_index.current() is None


@pytest.mark.django_db
def test_an_entry_changed_since_it_was_found_raises_no_hit(ingest, monkeypatch, caplog):
    """A hit is stored only if its entry still has the key it was found by (an entry
    re-keyed meanwhile, or another key with the same 64-bit hash)."""
    listed = WatchlistFactory(match_strategy="exact")
    entry = entry_add(listed, "SAME123")
    stale = module.EntryFound(entry.pk, listed.pk, "EOTHER1")

    class Stale:
        def entries_found(self, *, keys, further=(), patterned=()):
            return [stale]

    monkeypatch.setattr(entry_index, "current", Stale)
    ingest("OTHER1")
    assert not Hit.objects.exists()
    assert "matching failed" not in caplog.text  # no hit because of the key, not an error
    monkeypatch.setattr(entry_index, "current", lambda: None)  # the database path
    ingest("SAME123")
    assert Hit.objects.get().entry == entry


@pytestmark_db
def test_too_many_keys_are_not_tried_again_until_the_entries_change(
    inline,
    device_client,
    camera,
    elsewhere,  # noqa: F811
    monkeypatch,
):
    """Over MAX_KEYS reads look entries up directly, and the COPY (seconds of a core and
    hundreds of MB a process at the limit) is not redone every RETRY_SECONDS while nothing
    changed: only a change heard can bring the keys under the limit."""
    builds = []
    monkeypatch.setattr(module, "MAX_KEYS", 1)
    monkeypatch.setattr(module, "RETRY_SECONDS", 0)
    monkeypatch.setattr(entry_index, "_build", _counting(entry_index._build, builds))
    listed = WatchlistFactory(match_strategy="exact")
    entry_add(listed, "MANY111")
    entry_add(listed, "MANY222")
    for _ in range(3):
        assert post(device_client, camera.slug, plate="MANY111").status_code == 201
    assert Hit.objects.count() == 1  # the database path
    assert len(builds) == 1
    before = device_directory.heard(CHANNEL)
    elsewhere.execute("DELETE FROM watchlists_watchlistentry WHERE plate = 'MANY222'")
    heard_moved(before)
    assert entry_index.current() is not None  # under the limit again
    assert len(builds) == 2


def _counting(build, calls):
    def counted(*args):
        calls.append(1)
        return build(*args)

    return counted


def test_validity_windows_cost_little_memory():
    """Every entry of a list may have a validity window (an expiry imported with each): it
    costs the index two floats an entry, not a dict entry of a tuple of floats (5x the index)."""

    def held(until):
        rows = [
            ["e", str(uuid.uuid4()), "1", f"O{n:07d}", f"{n:07d}", r"\N", until(n), "0"]
            for n in range(20_000)
        ]
        tracemalloc.start()
        index = EntryIndex(rows)
        size = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        return index, size

    _, open_size = held(lambda n: r"\N")
    index, windowed_size = held(lambda n: f"{1.8e9 + n:.6f}" if n else r"\N")
    assert (windowed_size - open_size) / 20_000 < 20
    [found] = index.entries_found(keys=["O0000007"])
    assert (found.valid_from, found.valid_until) == (None, 1.8e9 + 7)
    assert found.valid_at(1.8e9 + 6) and not found.valid_at(1.8e9 + 7)
    [first] = index.entries_found(keys=["O0000000"])  # before any window: open
    assert (first.valid_from, first.valid_until) == (None, None)


@pytest.mark.django_db
@pytest.mark.parametrize("reverse", [False, True])
def test_a_reads_hits_are_locked_in_one_order_whatever_the_index_order(
    ingest, monkeypatch, reverse
):
    """The index gives entries in the order of their hashes, salted per process: a read and
    its retry in two processes must still take their (subject, camera) locks in one order,
    or each could wait for the other's (a deadlock, and the loser's hits rolled back)."""
    listed = WatchlistFactory(match_strategy="exact", match_candidates=True)
    first, second = entry_add(listed, "LOCK111"), entry_add(listed, "LOCK222")
    found = [module.EntryFound(e.pk, listed.pk, e.match_key) for e in (first, second)]
    found.sort(key=lambda f: str(f.entry_id), reverse=reverse)

    class Ordered:
        def entries_found(self, *, keys, further=(), patterned=()):
            return found

    locked = []
    monkeypatch.setattr(entry_index, "current", Ordered)
    monkeypatch.setattr(matching, "_lock", lambda subject, camera_id: locked.append(subject))
    ingest("LOCK111", candidates=[{"plate": "LOCK222"}])
    assert Hit.objects.count() == 2
    assert locked == sorted(locked)
