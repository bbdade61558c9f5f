"""Matching at ingest: which reads raise hits on which lists, and why (the snapshot)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from events.models import PlateEvent
from events.reads import ReadIn
from events.services.tracked_objects import tracked_object_ingest
from events.services.update import plate_event_update
from watchlists.entry_index import index_rows
from watchlists.models import Hit
from watchlists.services import matching
from watchlists.services.matching import hits_record

from .factories import WatchlistFactory, entry_add

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True, params=["database", "index"])
def entries_found_by(request, monkeypatch):
    """Every case twice: entries looked up in the database (no index: inside a test's
    transaction there is no device cache), and found in the entry index, built afresh from
    what the transaction holds at each read."""
    if request.param == "index":
        monkeypatch.setattr(matching.entry_index, "current", index_rows)
    return request.param


def hits_of():
    return list(Hit.objects.order_by("created_at"))


@pytest.mark.parametrize(
    ("strategy", "budget", "read", "hit"),
    [
        ("ocr", 0, "A8C1Z3", True),  # B/8 and 2/Z are OCR-confusable
        ("ocr", 0, "A8CX23", False),  # X for 1 is not
        ("ocr", 1, "A8C1Z3", True),
        ("ocr", 1, "A8CX23", True),  # one free substitution
        ("ocr", 1, "A8CX2", False),  # a substitution and a deletion: two edits
        ("ocr", 1, "ABC1234", True),  # one insertion
        ("ocr", 2, "A8CX2", False),  # a plate of 6 gets only 1 edit on a budget 2 list
        ("exact", 0, "A8C1Z3", False),
        ("exact", 0, "A8CX23", False),
        ("exact", 0, "abc-123", True),  # normalized
    ],
)
def test_each_strategy_hits_what_it_should(ingest, strategy, budget, read, hit):
    listed = WatchlistFactory(match_strategy=strategy, edit_budget=budget)
    entry_add(listed, "ABC123", category="stolen_vehicle", description="Blue Golf")
    ingest(read)
    hits = hits_of()
    assert bool(hits) is hit
    if hit:
        snapshot = hits[0].snapshot
        assert snapshot["entry"]["plate"] == "ABC123"
        assert snapshot["entry"]["description"] == "Blue Golf"
        assert snapshot["matched_plate"] == hits[0].plate == plate_of(read)
        assert hits[0].category == "stolen_vehicle"


def plate_of(read):
    return "".join(c for c in read.upper() if c.isalnum())


def test_the_snapshot_says_what_was_substituted_and_the_cost(ingest):
    listed = WatchlistFactory(match_strategy="ocr", edit_budget=1)
    entry_add(listed, "ABC123")
    ingest("A8CX23")
    snapshot = Hit.objects.get().snapshot
    assert snapshot["cost"] == 1  # B/8 is free, 1/X is the one edit
    assert snapshot["substituted"] == [["B", "8"], ["1", "X"]]


@pytest.mark.parametrize(("budget", "hit"), [(1, False), (2, True)])
def test_a_budget_of_two_allows_two_edits_on_long_plates(ingest, budget, hit):
    entry_add(WatchlistFactory(match_strategy="ocr", edit_budget=budget), "ABCD1234")
    ingest("AXCD1Y34")  # two substitutions (X for B, Y for 2)
    assert Hit.objects.exists() is hit


def test_lists_of_each_strategy_covering_one_read_each_find_their_entries(ingest):
    """A read looks up the keys of every strategy covering it: exact, folded and deletions."""
    exact = WatchlistFactory(name="Exact", match_strategy="exact")
    folded = WatchlistFactory(name="Folded", match_strategy="ocr")
    edited = WatchlistFactory(name="Edited", match_strategy="ocr", edit_budget=1)
    entry_add(exact, "CAND123")
    entry_add(folded, "XY1234")  # read as X Y I 2 3 4: a confusion, no edit
    entry_add(edited, "PLATE99")  # read as PLATX99: one edit
    ingest("PLATX99", candidates=[{"plate": "CAND123"}, {"plate": "XYI234"}])
    assert sorted(h.watchlist.name for h in Hit.objects.all()) == ["Edited", "Exact", "Folded"]


def test_a_short_plate_gets_no_free_edit(ingest):
    listed = WatchlistFactory(match_strategy="ocr", edit_budget=1)
    entry_add(listed, "AB123")  # 5 characters: budget 1 needs 6
    ingest("AB124")
    assert not Hit.objects.exists()


def test_candidates_match_when_the_list_asks_for_them(ingest):
    with_candidates = WatchlistFactory(match_strategy="exact", match_candidates=True)
    without = WatchlistFactory(match_strategy="exact", match_candidates=False)
    entry_add(with_candidates, "XYZ789")
    entry_add(without, "XYZ789")
    ingest("XYZ78B", candidates=[{"plate": "XYZ789", "confidence": 0.4}])
    [hit] = hits_of()
    assert hit.watchlist == with_candidates
    assert hit.snapshot["candidate"] is True
    assert hit.snapshot["read_plate"] == "XYZ78B"
    assert hit.plate == "XYZ789"


def test_a_read_with_many_candidates_matches_only_the_first_few(ingest):
    """A device cannot stall ingest through a read's candidates: only the first
    CANDIDATES_MATCHED are looked up, in a bounded number of queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from watchlists.services.matching import CANDIDATES_MATCHED

    listed = WatchlistFactory(match_strategy="ocr", edit_budget=2, match_candidates=True)
    entry_add(listed, "EARLY12345")
    entry_add(listed, "LATE123456")
    noise = [{"plate": f"N{i:05d}" + "X" * 25} for i in range(1300)]
    candidates = noise[: CANDIDATES_MATCHED - 1] + [{"plate": "EARLY12345"}] + noise
    candidates.append({"plate": "LATE123456"})
    with CaptureQueriesContext(connection) as queries:
        result = ingest("ZZZ", candidates=candidates)
    assert result.status == "created", result
    assert [h.plate for h in hits_of()] == ["EARLY12345"]
    assert len(queries) < 25


def test_pattern_lists_match_wildcards(ingest):
    patterns = WatchlistFactory(match_strategy="pattern")
    entry_add(patterns, "CD*")
    entry_add(patterns, "?Q99")
    for plate in ("CD1234", "XQ99", "XQ991", "DC1"):
        ingest(plate)
    assert sorted(h.plate for h in hits_of()) == ["CD1234", "XQ99"]


def test_a_pattern_hit_does_not_swallow_other_cars_hits(ingest, settings):
    """One hit per passage is per car for a pattern: two cars matching `AB*` at the same
    camera within the repeat window both hit; the same car again does not."""
    settings.HIT_REPEAT_SECONDS = 120
    entry_add(WatchlistFactory(match_strategy="pattern"), "AB*")
    ingest("AB1111", captured_at=_ago(30))
    ingest("AB2222", captured_at=_ago(20))
    ingest("AB1111", captured_at=_ago(10))
    assert sorted(h.plate for h in hits_of()) == ["AB1111", "AB2222"]


def test_allow_lists_hit_plates_they_do_not_list(two_cameras):
    north, south, device = two_cameras
    residents = WatchlistFactory(kind="allow", match_strategy="exact")
    residents.cameras.set([north])
    entry_add(residents, "RES001")
    for plate, camera in (("RES001", north), ("STR999", north), ("STR999", south)):
        _post(device, plate, camera=camera.slug)
    [hit] = hits_of()
    assert (hit.plate, hit.camera, hit.entry) == ("STR999", north, None)
    assert hit.snapshot["watchlist"]["kind"] == "allow"


def test_misreads_of_one_car_raise_one_allow_hit_per_passage(two_cameras, settings):
    settings.HIT_REPEAT_SECONDS = 120
    north, _, device = two_cameras
    residents = WatchlistFactory(kind="allow", match_strategy="exact")
    residents.cameras.set([north])
    entry_add(residents, "RES001")
    for plate, ago in (("STR999", 30), ("STR99", 25), ("5TR999", 20)):
        _post(device, plate, camera=north.slug, captured_at=_ago(ago))
    assert [h.plate for h in hits_of()] == ["STR999"]
    _post(device, "STR999", camera=north.slug, captured_at=_ago(30 + 121))
    assert len(hits_of()) == 2


def test_an_ignore_list_silences_allow_lists_and_lower_alert_lists(two_cameras):
    north, _, device = two_cameras
    residents = WatchlistFactory(kind="allow", match_strategy="exact")
    residents.cameras.set([north])
    low = WatchlistFactory(kind="alert", priority=1, match_strategy="exact")
    high = WatchlistFactory(kind="alert", priority=9, match_strategy="exact")
    ignore = WatchlistFactory(kind="ignore", priority=5, match_strategy="exact")
    for listed in (low, high, ignore):
        entry_add(listed, "VIP001")
    _post(device, "VIP001", camera="north")
    assert [h.watchlist for h in hits_of()] == [high]


def test_scope_cameras_zones_and_directions(two_cameras):
    from cameras.tests.factories import ZoneFactory

    north, south, device = two_cameras
    lane = ZoneFactory(camera=north, name="lane")
    by_camera = WatchlistFactory(match_strategy="exact")
    by_camera.cameras.set([south])
    by_zone = WatchlistFactory(match_strategy="exact")
    by_zone.zones.set([lane])
    inbound = WatchlistFactory(match_strategy="exact", directions=["in"])
    for listed in (by_camera, by_zone, inbound):
        entry_add(listed, "SCO123")
    _post(device, "SCO123", camera="north", zone="lane", direction="out")
    _post(device, "SCO123", camera="south", direction="in", captured_at=_ago(600))
    seen = {(h.watchlist_id, h.camera.slug) for h in hits_of()}
    assert seen == {(by_zone.pk, "north"), (by_camera.pk, "south"), (inbound.pk, "south")}


def test_expired_and_future_entries_never_hit(ingest):
    listed = WatchlistFactory(match_strategy="exact")
    now = timezone.now()
    entry_add(listed, "OLD111", valid_until=now - timedelta(days=1))
    entry_add(listed, "NEW222", valid_from=now + timedelta(days=1))
    entry_add(
        listed, "NOW333", valid_from=now - timedelta(days=1), valid_until=now + timedelta(days=1)
    )
    for plate in ("OLD111", "NEW222", "NOW333"):
        ingest(plate)
    assert [h.plate for h in hits_of()] == ["NOW333"]


def test_disabled_lists_do_not_hit(ingest):
    entry_add(WatchlistFactory(enabled=False, match_strategy="exact"), "OFF000")
    ingest("OFF000")
    assert not Hit.objects.exists()


def test_schedule_edges_in_the_lists_time_zone_across_a_dst_change(camera, settings):
    settings.HIT_REPEAT_SECONDS = 0
    # Amsterdam moves from CET (+1) to CEST (+2) at 2026-03-29 02:00 local. The list is
    # active 08:00-09:00 local on Saturdays (5) and Sundays (6).
    listed = WatchlistFactory(
        match_strategy="exact",
        time_zone="Europe/Amsterdam",
        schedule_weekdays=[5, 6],
        schedule_windows=[{"start": "08:00", "end": "09:00"}],
    )
    entry_add(listed, "DST123")
    reads = {
        "sat 07:59 CET": datetime(2026, 3, 28, 6, 59, tzinfo=UTC),
        "sat 08:00 CET": datetime(2026, 3, 28, 7, 0, tzinfo=UTC),
        "sat 09:00 CET": datetime(2026, 3, 28, 8, 0, tzinfo=UTC),
        "sun 07:59 CEST": datetime(2026, 3, 29, 5, 59, tzinfo=UTC),
        "sun 08:00 CEST": datetime(2026, 3, 29, 6, 0, tzinfo=UTC),
        "sun 08:59 CEST": datetime(2026, 3, 29, 6, 59, tzinfo=UTC),
        "sun 09:00 CEST": datetime(2026, 3, 29, 7, 0, tzinfo=UTC),
        "mon 08:30 CEST": datetime(2026, 3, 30, 6, 30, tzinfo=UTC),
    }
    hit = set()
    for name, at in reads.items():
        event = PlateEvent(
            pk=None,
            plate="DST123",
            candidates=[],
            camera=camera,
            captured_at=at,
            direction="unknown",
        )
        event.save()  # stored directly: the capture times are beyond ingest's tolerance
        if hits_record(events=[event]):
            hit.add(name)
    assert hit == {"sat 08:00 CET", "sun 08:00 CEST", "sun 08:59 CEST"}


def test_one_hit_per_passage_under_repeats_and_retries(ingest, settings):
    settings.HIT_REPEAT_SECONDS = 60
    entry_add(WatchlistFactory(match_strategy="ocr"), "REP123")
    start = timezone.now() - timedelta(minutes=10)
    ingest("REP123", captured_at=start, event_id="a")
    ingest("REP123", captured_at=start, event_id="a")  # the same read again: a duplicate
    ingest("REP123", captured_at=start + timedelta(seconds=1), event_id="b")  # re-read
    ingest("REP12B", captured_at=start + timedelta(seconds=30), event_id="c")  # other misread
    assert Hit.objects.count() == 1
    ingest("REP123", captured_at=start + timedelta(seconds=200), event_id="d")  # next passage
    assert Hit.objects.count() == 2


def test_a_refined_tracked_object_gets_exactly_one_hit(device, settings):
    settings.HIT_REPEAT_SECONDS = 0  # only the event itself ties the refinements together
    entry_add(WatchlistFactory(match_strategy="exact"), "FRI123")
    at = timezone.now() - timedelta(seconds=5)
    for plate in ("FRI12", "FRI123", "FRI1Z3", "FRI123"):
        read = ReadIn(
            plate=plate,
            captured_at=at,
            event_id="obj-1",
            source="frigate",
            confidence=0.5 + len(plate) / 100,
        )
        tracked_object_ingest(device=device, read=read, ended=False)
    [hit] = hits_of()
    assert hit.plate == "FRI123"


def test_a_refinement_at_a_camera_no_list_watches_asks_no_list(two_cameras, monkeypatch):
    """A Frigate refinement knows its camera's lists as the ingest does: none, no lookup."""
    from watchlists.services import matching

    north, south, device = two_cameras
    WatchlistFactory(match_strategy="exact").cameras.set([north])
    asked = []
    monkeypatch.setattr(matching, "lists_enabled", lambda: asked.append(1) or [])
    monkeypatch.setattr(matching, "hits_record", lambda **kw: asked.append(2) or [])
    at = timezone.now() - timedelta(seconds=5)
    for plate in ("REF12", "REF123"):
        read = ReadIn(plate=plate, captured_at=at, event_id="obj-9", camera=south.slug)
        read.source = "frigate"
        assert tracked_object_ingest(device=device, read=read, ended=False).status in (
            "created",
            "updated",
        )
    assert PlateEvent.objects.get().plate == "REF123"
    assert asked == []


def test_an_update_in_place_into_a_listed_plate_hits(ingest):
    entry_add(WatchlistFactory(match_strategy="exact"), "UPD999")
    result = ingest("UPD990")
    assert not Hit.objects.exists()
    event = PlateEvent.objects.select_related("camera", "device").get(pk=result.id)
    plate_event_update(event=event, read=ReadIn(plate="UPD999", captured_at=event.captured_at))
    assert Hit.objects.get().event_id == event.pk


def test_a_hit_rolls_back_with_its_read(ingest, monkeypatch):
    from events.services import ingest as ingest_module

    entry_add(WatchlistFactory(match_strategy="exact"), "ROL123")

    def broken(*args, **kwargs):
        raise RuntimeError("later step failed")

    monkeypatch.setattr(ingest_module, "broadcast_events", broken)
    monkeypatch.setattr("events.after_store.transaction.on_commit", lambda *a, **k: broken())
    with pytest.raises(RuntimeError):
        ingest("ROL123")
    assert not Hit.objects.exists() and not PlateEvent.objects.exists()


def _ago(seconds):
    return timezone.now() - timedelta(seconds=seconds)


def _post(device, plate, **fields):
    from events.services.ingest import plate_events_ingest

    fields.setdefault("captured_at", _ago(5))
    [result] = plate_events_ingest(device=device, reads=[ReadIn(plate=plate, **fields)])
    assert result.status == "created", result
    return result


@pytest.mark.django_db(transaction=True)
def test_a_camera_no_list_watches_stays_a_lone_insert(two_cameras, monkeypatch):
    """Lists come with the device's cameras: reads of a camera no enabled list watches open
    no transaction (the hot path), and a list's new scope is seen by the next read."""
    from django.db import connection, transaction

    if connection.vendor != "postgresql":
        pytest.skip("the lone INSERT is PostgreSQL's")
    north, south, device = two_cameras
    listed = WatchlistFactory(match_strategy="exact")
    listed.cameras.set([north])
    entry_add(listed, "LON123")
    opened = []
    atomic = transaction.atomic

    def atomic_spy(*args, **kwargs):
        opened.append(True)
        return atomic(*args, **kwargs)

    monkeypatch.setattr(transaction, "atomic", atomic_spy)
    _post(device, "LON123", camera="south", captured_at=_ago(300))
    assert opened == [] and not Hit.objects.exists()
    _post(device, "LON123", camera="north", captured_at=_ago(200))
    assert opened and Hit.objects.get().camera == north
    monkeypatch.setattr(transaction, "atomic", atomic)
    listed.cameras.set([south])
    _post(device, "LON123", camera="south", captured_at=_ago(100))
    assert Hit.objects.filter(camera=south).count() == 1


def test_a_failing_matcher_never_costs_the_read(device_client, camera, monkeypatch, caplog):
    """A bug in matching is logged (read id, no plate) and the device's read is stored."""
    import json

    from watchlists.services import matching

    entry_add(WatchlistFactory(match_strategy="exact"), "BUG123")

    def broken(**kwargs):
        raise RuntimeError("matcher bug")

    monkeypatch.setattr(matching, "hits_decide", broken)
    body = {"event_id": "bug-1", "plate": "BUG123", "camera": camera.slug}
    body["captured_at"] = _ago(5).isoformat()
    with caplog.at_level("ERROR", logger="anpr.watchlists"):
        response = device_client.post(
            "/api/events/ingest/", json.dumps(body), content_type="application/json"
        )
    assert response.status_code == 201, response.content
    stored = PlateEvent.objects.get()
    assert stored.plate == "BUG123" and not Hit.objects.exists()
    [record] = [r for r in caplog.records if r.name == "anpr.watchlists"]
    assert str(stored.pk) in record.getMessage() and "BUG123" not in record.getMessage()
