"""The hourly rollup equals the raw rows (also after late events and updates), and
GET /api/events/stats/ reports buckets in TIME_ZONE, per camera and zone, and plates."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db.models import Count, Sum
from django.utils import timezone

from cameras.tests.factories import CameraFactory, ZoneFactory
from events.models import EventStatistics, PlateEvent
from events.reads import ReadIn
from events.services.ingest import plate_events_ingest
from events.services.rollup import event_statistics_rollup
from events.services.update import plate_event_update
from events.tasks import event_statistics_rollup_task

from .factories import PlateEventFactory

URL = "/api/events/stats/"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _assert_rollup_equals_raw():
    rolled = EventStatistics.objects.aggregate(n=Sum("event_count"), c=Sum("confidence_sum"))
    raw = PlateEvent.objects.aggregate(n=Count("id"), c=Sum("confidence"))
    assert rolled["n"] == raw["n"]
    assert rolled["c"] == pytest.approx(raw["c"])
    per_camera_rolled = dict(
        EventStatistics.objects.values_list("camera").annotate(n=Sum("event_count"))
    )
    per_camera_raw = dict(PlateEvent.objects.values_list("camera").annotate(n=Count("id")))
    assert per_camera_rolled == per_camera_raw


@pytest.fixture(autouse=True)
def _fresh_answers(settings):
    """Each test computes its answers (the cache test turns caching back on)."""
    settings.STATS_CACHE_SECONDS = 0


@pytest.fixture
def spread(db):
    """30 events over three hours, two cameras, a zone, and one without a confidence."""
    north, south = CameraFactory(slug="north"), CameraFactory(slug="south")
    gate = ZoneFactory(camera=north, name="Gate")
    for n in range(30):
        PlateEventFactory(
            camera=north if n % 3 else south,
            zone=gate if n % 3 == 1 else None,
            plate_raw=f"AB{n % 4}CDE",
            confidence=None if n == 7 else 0.5 + n / 100,
            captured_at=T0 + timedelta(minutes=6 * n),
        )
    return north, south, gate


def test_rollup_sums_equal_raw_counts_including_late_events(spread):
    north, _, gate = spread
    assert event_statistics_rollup() == 3
    _assert_rollup_equals_raw()
    event_statistics_rollup()  # a second run changes nothing
    _assert_rollup_equals_raw()

    # A late batch: events captured a week ago, received now, re-roll their old buckets.
    for n in range(4):
        PlateEventFactory(
            camera=north, zone=gate, captured_at=T0 - timedelta(days=7, minutes=n + 1)
        )
    event_statistics_rollup_task()
    _assert_rollup_equals_raw()
    week_ago = EventStatistics.objects.get(bucket=T0 - timedelta(days=7, hours=1))
    assert (week_ago.event_count, week_ago.zone_id) == (4, gate.pk)


def test_an_update_in_place_re_rolls_its_bucket(device_with_key):
    device, _ = device_with_key
    [result] = plate_events_ingest(
        device=device, reads=[ReadIn(plate="AB1", captured_at=T0, confidence=0.2)]
    )
    # Received well before the rollups: only its updated_at (later than received_at once
    # updated in place) can tell the second rollup that its bucket changed.
    an_hour_ago = timezone.now() - timedelta(hours=1)
    PlateEvent.objects.update(received_at=an_hour_ago, updated_at=an_hour_ago)
    event_statistics_rollup()
    plate_event_update(
        event=PlateEvent.objects.get(pk=result.id),
        read=ReadIn(plate="AB1", captured_at=T0, confidence=0.9),
    )
    event_statistics_rollup()
    assert EventStatistics.objects.get().confidence_sum == pytest.approx(0.9)


def test_the_command_rebuilds_everything(spread, capsys):
    event_statistics_rollup()
    EventStatistics.objects.update(event_count=999)  # damaged
    call_command("rollup_stats", "--all")
    assert "3 hourly bucket" in capsys.readouterr().out
    _assert_rollup_equals_raw()


def test_stats_endpoint(spread, viewer_client):
    north, south, gate = spread
    event_statistics_rollup()
    params = {"since": T0.isoformat(), "until": (T0 + timedelta(hours=3)).isoformat()}
    body = viewer_client.get(URL, params).json()
    assert body["total"] == 30
    assert [b["count"] for b in body["buckets"]] == [10, 10, 10]
    assert body["buckets"][0]["start"] == "2026-11-20T10:00:00Z"
    by_camera = {c["camera_slug"]: c["count"] for c in body["cameras"]}
    assert by_camera == {"north": 20, "south": 10}
    by_zone = {(z["camera"], z["zone_name"]): z["count"] for z in body["zones"]}
    assert by_zone == {(north.pk, "Gate"): 10, (north.pk, None): 10, (south.pk, None): 10}
    confidences = [0.5 + n / 100 for n in range(30) if n != 7]
    assert body["average_confidence"] == pytest.approx(sum(confidences) / 29, abs=1e-4)
    assert body["distinct_plates"] == 4
    assert body["top_plates"][0] == {"plate": "AB0CDE", "count": 8}

    one_zone = viewer_client.get(URL, {**params, "zone": gate.pk, "camera": north.pk}).json()
    assert one_zone["total"] == 10
    assert sum(p["count"] for p in one_zone["top_plates"]) == 10


def test_days_are_local_days(spread, viewer_client, settings):
    settings.TIME_ZONE = "Asia/Tokyo"  # UTC+9: 10:00-13:00 UTC is 19:00-22:00 local
    call_command("rollup_stats", "--all")
    body = viewer_client.get(
        URL,
        {
            "since": "2026-11-20T00:00:00+09:00",
            "until": "2026-11-22T00:00:00+09:00",
            "interval": "day",
        },
    ).json()
    assert body["time_zone"] == "Asia/Tokyo"
    assert body["buckets"] == [
        {
            "start": "2026-11-20T00:00:00+09:00",
            "count": 30,
            "average_confidence": body["buckets"][0]["average_confidence"],
        },
        {"start": "2026-11-21T00:00:00+09:00", "count": 0, "average_confidence": None},
    ]


def test_stats_refuse_bad_windows_and_devices(viewer_client, device_client):
    assert viewer_client.get(URL, {"interval": "week"}).status_code == 400
    response = viewer_client.get(
        URL, {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}
    )
    assert response.status_code == 400 and "until" in response.json()["errors"]
    assert device_client.get(URL).status_code == 403


def test_answers_are_cached_until_the_next_rollup(spread, viewer_client, settings):
    settings.STATS_CACHE_SECONDS = 300
    north, _, _ = spread
    event_statistics_rollup()
    params = {"since": T0.isoformat(), "until": (T0 + timedelta(hours=3)).isoformat()}
    assert viewer_client.get(URL, params).json()["total"] == 30
    PlateEventFactory(camera=north, captured_at=T0 + timedelta(minutes=1))
    assert viewer_client.get(URL, params).json()["total"] == 30  # served from the cache
    event_statistics_rollup()
    assert viewer_client.get(URL, params).json()["total"] == 31  # the rollup moved on


@pytest.mark.parametrize("interval", ["hour", "day"])
def test_unfiltered_counts_from_days_and_hours_equal_the_raw_rows(db, settings, interval):
    """Without a filter, whole days come from the daily sums and plate sets, the hours around
    them from the hourly ones: the same figures as the events (here over a DST change)."""
    import random

    from events.selectors.statistics import bucket_key, event_statistics, hour_floor

    settings.TIME_ZONE = "Europe/Amsterdam"
    rng = random.Random(2)
    cameras = [CameraFactory(), CameraFactory()]
    zones = [None, ZoneFactory(camera=cameras[0]), ZoneFactory(camera=cameras[1])]
    start = datetime(2026, 10, 23, 5, 0, tzinfo=UTC)
    for _ in range(400):
        zone = rng.choice(zones)
        PlateEventFactory(
            camera=zone.camera if zone else rng.choice(cameras),
            zone=zone,
            confidence=rng.choice([None, 0.5, 0.75, 1.0]),
            captured_at=start + timedelta(seconds=rng.randrange(5 * 86400)),
        )
    event_statistics_rollup()
    for since, until in [
        (start, start + timedelta(days=5)),
        (start + timedelta(hours=19, minutes=30), start + timedelta(days=3, hours=2)),
        (start + timedelta(hours=1), start + timedelta(hours=9)),
    ]:
        body = event_statistics(since=since, until=until, interval=interval)
        rows = PlateEvent.objects.filter(
            captured_at__gte=body["since"], captured_at__lt=body["until"]
        )
        assert body["total"] == rows.count()
        per_zone = {}
        per_bucket = {}
        for camera, zone, captured_at in rows.values_list("camera", "zone", "captured_at"):
            per_zone[(camera, zone)] = per_zone.get((camera, zone), 0) + 1
            local = hour_floor(captured_at)
            key = local if interval == "hour" else local.replace(hour=0)
            per_bucket[key] = per_bucket.get(key, 0) + 1
        assert {(z["camera"], z["zone"]): z["count"] for z in body["zones"]} == per_zone
        assert {b["start"]: b["count"] for b in body["buckets"] if b["count"]} == per_bucket
        # Every hour or day of the window is listed, in order, once.
        starts = [b["start"] for b in body["buckets"]]
        assert starts == sorted(set(starts)) and starts[0] == bucket_key(body["since"], interval)
        confidences = [c for c in rows.values_list("confidence", flat=True) if c is not None]
        assert body["average_confidence"] == pytest.approx(
            sum(confidences) / len(confidences), abs=1e-4
        )


def test_the_direct_rendering_equals_the_fields_rendering(spread, settings):
    from rest_framework import serializers

    from events.api.serializers import EventStatisticsSerializer
    from events.selectors.statistics import event_statistics, event_statistics_cameras

    settings.TIME_ZONE = "Asia/Tokyo"
    call_command("rollup_stats", "--all")
    for query in ({}, {"camera": spread[0].pk}):
        body = event_statistics(
            since=T0 - timedelta(hours=1), until=T0 + timedelta(hours=4), stack="camera", **query
        )
        body["cameras"] = event_statistics_cameras(
            counts=body["cameras"], camera=query.get("camera"), zone=None
        )
        serializer = EventStatisticsSerializer(body)
        assert serializer.data == serializers.Serializer.to_representation(serializer, body)
        assert serializer.data["zones"] and serializer.data["top_plates"]
        assert serializer.data["series"] and serializer.data["cameras"]
