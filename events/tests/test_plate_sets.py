"""Distinct and top plates from the plate count sets equal the raw rows of the window, after a
rollup: random days, windows cut mid-day, DST days, late events, updates in place, ties at the
top-N threshold, and retention (purged plates leave the sets and the dictionary)."""

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from cameras.tests.factories import CameraFactory
from events.models import PlateCountSet, PlateEvent, StatisticsPlate
from events.plate_sets import (
    plate_counts_top,
    plate_counts_window,
    plates_top,
    slices_add,
    slices_count_of,
    slices_decode,
    slices_encode,
    slices_from_counts,
)
from events.reads import ReadIn
from events.selectors.statistics import event_statistics, hour_floor, plates_from_rows
from events.services.ingest import plate_events_ingest
from events.services.retention import events_purge
from events.services.rollup import event_statistics_rollup
from events.services.update import plate_event_update

from .factories import PlateEventFactory

T0 = datetime(2026, 11, 16, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_answers(settings):
    settings.STATS_CACHE_SECONDS = 0


def _events(times_and_plates, *, cameras=None):
    cameras = cameras or [CameraFactory()]
    PlateEvent.objects.bulk_create(
        PlateEventFactory.build(camera=cameras[n % len(cameras)], plate_raw=plate, captured_at=at)
        for n, (at, plate) in enumerate(times_and_plates)
    )


def _random_events(rng, *, start, hours, count, plates=60):
    pool = [f"P{n:03d}X" for n in range(plates)]
    _events(
        [
            (start + timedelta(seconds=rng.randrange(hours * 3600)), rng.choice(pool))
            for _ in range(count)
        ],
        cameras=[CameraFactory(), CameraFactory()],
    )


def assert_sets_equal_rows(since, until, top=10):
    """The statistics' distinct and top plates (from the sets) are the raw rows' answer."""
    body = event_statistics(since=since, until=until, interval="day", top=top)
    rows = PlateEvent.objects.filter(captured_at__gte=body["since"], captured_at__lt=body["until"])
    expected = plates_from_rows(rows, top=top)
    assert (body["distinct_plates"], body["top_plates"]) == expected
    return expected


# --- The arithmetic -------------------------------------------------------------------------


def test_the_adder_and_the_threshold_agree_with_plain_counting():
    rng = random.Random(1)
    totals: dict[int, int] = {}
    summed = []
    for _ in range(30):
        counts = {rng.randrange(1, 3000): rng.randrange(1, 40) for _ in range(200)}
        for plate_id, count in counts.items():
            totals[plate_id] = totals.get(plate_id, 0) + count
        part = slices_from_counts(counts.items())
        slices_add(summed, slices_decode(len(part), slices_encode(part)))
    assert {i: slices_count_of(summed, i) for i in totals} == totals
    for n in (1, 10, 100, len(totals), len(totals) + 5):
        split = plates_top(summed, n)
        ranked = sorted(totals.values(), reverse=True)
        threshold = ranked[min(n, len(ranked)) - 1] if n <= len(ranked) else 0
        assert split.threshold == threshold
        above = {i for i, c in totals.items() if c > threshold}
        assert split.above_count == len(above) and split.above.bit_count() == len(above)
        tied = {i for i, c in totals.items() if c == threshold}
        assert split.tied.bit_count() == len(tied)


# --- Against the raw rows -------------------------------------------------------------------


def test_random_days_and_windows_cut_mid_day(db):
    rng = random.Random(7)
    _random_events(rng, start=T0, hours=4 * 24, count=1500)
    event_statistics_rollup()
    assert PlateCountSet.objects.filter(period="day").count() == 4
    windows = [(T0, T0 + timedelta(days=4)), (T0 + timedelta(hours=5), T0 + timedelta(hours=7))]
    for _ in range(12):
        a, b = sorted(rng.sample(range(4 * 24 * 60), 2))
        windows.append((T0 + timedelta(minutes=a), T0 + timedelta(minutes=b + 1)))
    for since, until in windows:
        for top in (1, 5, 10, 100):
            assert_sets_equal_rows(since, until, top)


def test_ties_at_the_threshold_are_ordered_by_plate(db):
    # Counts 5, 4, 4, 3 x5 (P10-P14), 1 x 600: the top 6 cuts through the plates read 3 times,
    # and the top 20 through the 600 read once (found by walking the dictionary).
    plan = {"ZZ1": 5, "AA9": 4, "MM5": 4, **{f"P1{n}": 3 for n in (4, 2, 0, 3, 1)}}
    plan.update({f"S{n:03d}": 1 for n in range(600)})
    moments = (T0 + timedelta(hours=2, seconds=n) for n in range(10_000))
    _events([(next(moments), plate) for plate, times in plan.items() for _ in range(times)])
    event_statistics_rollup()
    since, until = T0, T0 + timedelta(hours=4)
    _, top6 = assert_sets_equal_rows(since, until, 6)
    assert [p["plate"] for p in top6] == ["ZZ1", "AA9", "MM5", "P10", "P11", "P12"]
    _, top20 = assert_sets_equal_rows(since, until, 20)
    assert top20[-1] == {"plate": "S011", "count": 1}
    assert_sets_equal_rows(since, until, 3)
    assert_sets_equal_rows(since, until, 100)


@pytest.mark.parametrize(
    "day",
    [
        datetime(2026, 10, 25, tzinfo=UTC),  # Amsterdam falls back: 02:00-03:00 twice, 25 hours
        datetime(2026, 3, 29, tzinfo=UTC),  # springs forward: no 02:00, 23 hours
    ],
)
def test_a_dst_change_day(db, settings, day):
    settings.TIME_ZONE = "Europe/Amsterdam"
    tz = ZoneInfo("Europe/Amsterdam")
    rng = random.Random(3)
    start = day - timedelta(days=1, hours=2)
    _random_events(rng, start=start, hours=72, count=1200, plates=40)
    # Every minute of the night of the change, so each of its hours has events.
    _events([(day + timedelta(minutes=m - 30), f"N{m % 7}") for m in range(0, 240)])
    call_command("rollup_stats", "--all")
    local_day = datetime(day.year, day.month, day.day, tzinfo=tz)
    hours_that_day = PlateCountSet.objects.filter(
        period="hour", start__gte=local_day, start__lt=local_day + timedelta(days=1, hours=3)
    ).filter(start__lt=datetime(day.year, day.month, day.day + 1, tzinfo=tz))
    assert hours_that_day.count() == (25 if day.month == 10 else 23)
    windows = [
        (local_day, datetime(day.year, day.month, day.day + 1, tzinfo=tz)),  # the day itself
        (local_day - timedelta(hours=5), local_day + timedelta(days=1, hours=4)),
        (start, start + timedelta(hours=72)),
        (local_day + timedelta(hours=1), local_day + timedelta(hours=4)),  # through the change
    ]
    for since, until in windows:
        assert_sets_equal_rows(since, until, 10)
        assert_sets_equal_rows(since, until, 50)


def test_late_events_after_a_first_rollup(db):
    rng = random.Random(11)
    _random_events(rng, start=T0, hours=48, count=500, plates=30)
    event_statistics_rollup()
    # A device back online: old capture times, received now, new plates and known ones.
    _events(
        [(T0 + timedelta(hours=30, minutes=n), "LATE1" if n % 2 else "P001X") for n in range(9)]
    )
    event_statistics_rollup()
    _, top = assert_sets_equal_rows(T0, T0 + timedelta(days=2), 10)
    assert_sets_equal_rows(T0 + timedelta(hours=29, minutes=30), T0 + timedelta(hours=31))
    assert StatisticsPlate.objects.filter(plate="LATE1").exists()


def test_an_event_updated_in_place(device_with_key):
    device, _ = device_with_key
    reads = [ReadIn(plate="AB1", captured_at=T0 + timedelta(minutes=n)) for n in range(3)]
    results = plate_events_ingest(device=device, reads=reads)
    plate_events_ingest(device=device, reads=[ReadIn(plate="CD2", captured_at=T0)])
    event_statistics_rollup()
    assert assert_sets_equal_rows(T0, T0 + timedelta(hours=1)) == (
        2,
        [{"plate": "AB1", "count": 3}, {"plate": "CD2", "count": 1}],
    )
    # Frigate corrects its read: the old plate loses one, the new one gains one.
    plate_event_update(
        event=PlateEvent.objects.get(pk=results[0].id),
        read=ReadIn(plate="CD2", captured_at=T0),
    )
    event_statistics_rollup()
    assert assert_sets_equal_rows(T0, T0 + timedelta(days=1)) == (
        2,
        [{"plate": "AB1", "count": 2}, {"plate": "CD2", "count": 2}],
    )


def test_a_purge_takes_its_plates_out_of_sets_and_dictionary(db, settings):
    settings.EVENT_RETENTION_DAYS = 3
    now = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
    kept_camera = CameraFactory(retention_days=10)
    other = CameraFactory()
    _events([(now - timedelta(days=5, minutes=n), "GONE1") for n in range(5)], cameras=[other])
    _events(
        [(now - timedelta(days=5, minutes=n), "KEPT1") for n in range(3)], cameras=[kept_camera]
    )
    _events([(now - timedelta(days=5, minutes=n), "BOTH1") for n in range(2)], cameras=[other])
    _events([(now - timedelta(hours=n), "BOTH1") for n in range(4)], cameras=[other])
    event_statistics_rollup()
    assert StatisticsPlate.objects.filter(plate="GONE1").exists()

    result = events_purge(now=now, batch_size=3)
    assert result.events_deleted == 7
    assert result.plates_forgotten == 1
    assert not StatisticsPlate.objects.filter(plate="GONE1").exists()
    assert set(StatisticsPlate.objects.values_list("plate", flat=True)) == {"KEPT1", "BOTH1"}
    # The hour of the purge keeps the other camera's events, and only them.
    old = now - timedelta(days=5)
    assert assert_sets_equal_rows(old - timedelta(hours=1), old + timedelta(hours=1)) == (
        1,
        [{"plate": "KEPT1", "count": 3}],
    )
    assert_sets_equal_rows(now - timedelta(days=6), now)

    # The last of them go too: no set, no dictionary row is left of them.
    events_purge(now=now + timedelta(days=30))
    assert not PlateEvent.objects.exists()
    assert not PlateCountSet.objects.exists()
    assert not StatisticsPlate.objects.exists()


def test_a_purge_drops_sets_older_than_any_event(db, settings):
    settings.EVENT_RETENTION_DAYS = 3
    now = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
    _events([(now - timedelta(days=9), "OLD1"), (now - timedelta(hours=2), "NEW1")])
    event_statistics_rollup()
    PlateEvent.objects.filter(plate="OLD1").delete()  # gone without a re-roll
    events_purge(now=now)
    assert {s.start for s in PlateCountSet.objects.all()} == {
        now - timedelta(hours=2, minutes=30),
        datetime(2026, 11, 20, tzinfo=UTC),
    }
    assert list(StatisticsPlate.objects.values_list("plate", flat=True)) == ["NEW1"]


def test_a_rebuild_equals_the_rolling_rollup(db):
    rng = random.Random(5)
    _random_events(rng, start=T0, hours=30, count=400)
    event_statistics_rollup()
    before = {
        (s.period, s.start): (s.event_count, s.plate_count, bytes(s.slices))
        for s in PlateCountSet.objects.all()
    }
    PlateCountSet.objects.update(event_count=999)  # damaged
    call_command("rollup_stats", "--all")
    after = {
        (s.period, s.start): (s.event_count, s.plate_count, bytes(s.slices))
        for s in PlateCountSet.objects.all()
    }
    assert after == before
    assert_sets_equal_rows(T0, T0 + timedelta(hours=30))


def test_a_window_without_sets_has_no_plates(db):
    start = hour_floor(T0)
    assert plate_counts_top(plate_counts_window(start=start, end=start, tz=UTC), top=5) == (0, [])


def test_plates_of_events_committed_while_the_rollup_counts_are_numbered_too(db, monkeypatch):
    # On PostgreSQL an event may commit between the numbering and the counting statements:
    # here every plate comes "late" that way.
    monkeypatch.setattr("events.plate_sets.writing._plates_number", lambda events: None)
    _random_events(random.Random(9), start=T0, hours=6, count=200, plates=20)
    event_statistics_rollup()
    assert StatisticsPlate.objects.count() == 20
    assert_sets_equal_rows(T0, T0 + timedelta(hours=6))
