"""The dashboard page and what it reads from GET /api/events/stats/: every hour of the window
(zero where there were no reads), counts stacked per camera, the top and distinct plates, each
camera's last news and live-map state; who may see it; and ?camera= by id or slug."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from cameras.models import Camera
from cameras.tests.factories import CameraFactory, SensorSettingsFactory
from events.selectors.statistics import STACK_CAMERAS
from events.services.rollup import event_statistics_rollup

from .factories import PlateEventFactory

URL = "/api/events/stats/"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
WINDOW = {"since": T0.isoformat(), "until": (T0 + timedelta(hours=6)).isoformat()}


@pytest.fixture(autouse=True)
def _fresh_answers(settings):
    settings.STATS_CACHE_SECONDS = 0
    settings.TIME_ZONE = "UTC"


@pytest.fixture
def gap(db):
    """Reads in hours 0, 1 and 4 of a six-hour window (none in hours 2, 3 and 5), on two
    cameras: damrak 5 reads of AA11BB + 1 of CC22DD, beurs 3 of AA11BB."""
    damrak, beurs = CameraFactory(slug="damrak"), CameraFactory(slug="beurs")
    for minutes, camera, plate in [
        (5, damrak, "AA11BB"),
        (10, damrak, "AA11BB"),
        (15, beurs, "AA11BB"),
        (65, damrak, "AA11BB"),
        (70, damrak, "CC22DD"),
        (245, damrak, "AA11BB"),
        (250, beurs, "AA11BB"),
        (255, beurs, "AA11BB"),
        (259, damrak, "AA11BB"),
    ]:
        PlateEventFactory(
            camera=camera, plate_raw=plate, captured_at=T0 + timedelta(minutes=minutes)
        )
    event_statistics_rollup()
    return damrak, beurs


def test_every_hour_is_a_bucket_and_hours_without_reads_count_zero(gap, viewer_client):
    body = viewer_client.get(URL, {**WINDOW, "stack": "camera"}).json()
    assert [b["start"] for b in body["buckets"]] == [
        f"2026-11-20T{hour:02d}:00:00Z" for hour in range(10, 16)
    ]
    assert [b["count"] for b in body["buckets"]] == [3, 2, 0, 0, 4, 0]
    assert body["buckets"][2]["average_confidence"] is None


def test_counts_are_stacked_per_camera_busiest_first(gap, viewer_client):
    damrak, beurs = gap
    body = viewer_client.get(URL, {**WINDOW, "stack": "camera"}).json()
    assert body["series"] == [
        {"camera": damrak.pk, "counts": [2, 2, 0, 0, 2, 0]},
        {"camera": beurs.pk, "counts": [1, 0, 0, 0, 2, 0]},
    ]
    # The stack adds up to the buckets; without stack=camera there is no series.
    assert [sum(c) for c in zip(*(s["counts"] for s in body["series"]), strict=True)] == [
        b["count"] for b in body["buckets"]
    ]
    assert viewer_client.get(URL, WINDOW).json()["series"] == []
    one = viewer_client.get(URL, {**WINDOW, "stack": "camera", "camera": "beurs"}).json()
    assert one["series"] == [{"camera": beurs.pk, "counts": [1, 0, 0, 0, 2, 0]}]


def test_days_are_stacked_too_whole_days_and_edge_hours_alike(gap, viewer_client):
    damrak, beurs = gap
    body = viewer_client.get(
        URL,
        {
            "since": (T0 - timedelta(days=1, hours=3)).isoformat(),  # an edge hour range,
            "until": (T0 + timedelta(days=1)).isoformat(),  # a whole day, another edge
            "interval": "day",
            "stack": "camera",
        },
    ).json()
    assert [b["start"][:10] for b in body["buckets"]] == ["2026-11-19", "2026-11-20", "2026-11-21"]
    assert body["series"] == [
        {"camera": damrak.pk, "counts": [0, 6, 0]},
        {"camera": beurs.pk, "counts": [0, 3, 0]},
    ]


def test_cameras_beyond_the_busiest_share_one_series(db, viewer_client):
    cameras = [CameraFactory() for _ in range(STACK_CAMERAS + 2)]
    for rank, camera in enumerate(cameras):
        for n in range(len(cameras) - rank):  # the first camera busiest
            PlateEventFactory(camera=camera, captured_at=T0 + timedelta(minutes=n))
    event_statistics_rollup()
    body = viewer_client.get(URL, {**WINDOW, "stack": "camera"}).json()
    assert [s["camera"] for s in body["series"]] == [c.pk for c in cameras[:STACK_CAMERAS]] + [None]
    assert body["series"][-1]["counts"][0] == 2 + 1  # the two quietest cameras' reads


def test_top_and_distinct_plates_of_the_window_and_of_a_camera_by_slug(gap, viewer_client):
    body = viewer_client.get(URL, {**WINDOW, "top": 1}).json()
    assert body["distinct_plates"] == 2
    assert body["top_plates"] == [{"plate": "AA11BB", "count": 8}]
    # Defect 6: the camera by its slug, as GET /api/events/?camera=damrak takes it.
    damrak = viewer_client.get(URL, {**WINDOW, "camera": "damrak"}).json()
    assert damrak["total"] == 6 and damrak["distinct_plates"] == 2
    assert damrak["top_plates"][0] == {"plate": "AA11BB", "count": 5}
    by_id = viewer_client.get(URL, {**WINDOW, "camera": str(gap[0].pk)}).json()
    assert by_id == damrak
    assert [c["camera_slug"] for c in damrak["cameras"]] == ["damrak"]
    # The narrower window leaves out the reads of hour 4.
    early = viewer_client.get(
        URL, {"since": T0.isoformat(), "until": (T0 + timedelta(hours=2)).isoformat()}
    ).json()
    assert early["total"] == 5 and early["top_plates"][0] == {"plate": "AA11BB", "count": 4}


def test_each_camera_has_its_last_news_and_the_live_maps_state(db, viewer_client, settings):
    settings.CAMERA_OFFLINE_AFTER_HEARTBEATS = 3
    now = timezone.now()
    fresh = CameraFactory(slug="fresh", last_seen_at=now - timedelta(seconds=100))
    stale = CameraFactory(slug="stale", last_seen_at=now - timedelta(seconds=100))
    SensorSettingsFactory(camera=stale, heartbeat_interval_s=20)  # offline after 60 s
    CameraFactory(slug="never")
    CameraFactory(slug="fixing", status=Camera.Status.MAINTENANCE, last_seen_at=now)
    PlateEventFactory(camera=stale, captured_at=now - timedelta(minutes=5))
    event_statistics_rollup()
    body = viewer_client.get(URL).json()  # the last 24 hours
    cameras = {c["camera_slug"]: c for c in body["cameras"]}
    assert {slug: c["state"] for slug, c in cameras.items()} == {
        "fresh": "online",  # 100 s < 3 x the default 60 s
        "stale": "offline",  # 100 s > 3 x 20 s
        "never": "offline",
        "fixing": "maintenance",
    }
    # Cameras without reads are listed with 0, after those with reads.
    assert body["cameras"][0]["camera_slug"] == "stale" and cameras["fresh"]["count"] == 0
    assert cameras["never"]["last_seen_at"] is None
    assert cameras["fresh"]["last_seen_at"].startswith(fresh.last_seen_at.strftime("%Y-%m-%dT"))
    assert cameras["fresh"]["camera_name"] == fresh.name


def test_the_state_is_as_of_now_even_when_the_counts_are_cached(db, viewer_client, settings):
    settings.STATS_CACHE_SECONDS = 300
    camera = CameraFactory()
    PlateEventFactory(camera=camera, captured_at=timezone.now() - timedelta(minutes=5))
    event_statistics_rollup()
    assert viewer_client.get(URL).json()["cameras"][0]["state"] == "offline"
    Camera.objects.filter(pk=camera.pk).update(last_seen_at=timezone.now())  # a heartbeat
    assert viewer_client.get(URL).json()["cameras"][0]["state"] == "online"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01T00:00:00Z"}, "until"),
        ({"interval": "week"}, "interval"),
        ({"top": "0"}, "top"),
        ({"top": "many"}, "top"),
        ({"stack": "zone"}, "stack"),
        ({"camera": "no-such-camera"}, "camera"),
        ({"camera": "-1"}, "camera"),
        ({"zone": "north"}, "zone"),
        ({"since": "2026-01-01T00:00:00Z", "until": "2027-06-01T00:00:00Z"}, "since"),
    ],
)
def test_bad_query_strings_are_400_naming_the_field(db, viewer_client, query, field):
    response = viewer_client.get(URL, query)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


def test_who_may_read_the_statistics(
    db, api_client, viewer_client, operator_client, device_client, django_user_model
):
    assert api_client.get(URL).status_code == 401
    assert device_client.get(URL).status_code == 403
    nobody = django_user_model.objects.create_user(username="norole", password="x-for-tests")
    api_client.force_authenticate(nobody)
    assert api_client.get(URL).status_code == 403
    for client in (viewer_client, operator_client):
        assert client.get(URL, {"stack": "camera"}).status_code == 200


# --- The page -------------------------------------------------------------------------------


def test_anonymous_is_sent_to_sign_in_and_a_device_key_opens_nothing(client, device_with_key):
    response = client.get("/dashboard/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/dashboard/"
    _, key = device_with_key
    response = client.get("/dashboard/", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 302


def test_a_user_without_a_role_is_refused(client, django_user_model):
    client.force_login(django_user_model.objects.create_user(username="norole", password="x-x"))
    assert client.get("/dashboard/").status_code == 403


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_viewers_and_operators_get_the_page_with_only_local_files(client, request, role):
    client.force_login(request.getfixturevalue(role))
    response = client.get("/dashboard/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="reads-chart"' in page
    assert re.search(r'<a href="/dashboard/" aria-current="page">Dashboard</a>', page)
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/static/vendor/chart.js-4.6.2/chart.umd.min.js" in assets
    for asset in assets:
        assert asset.startswith("/"), f"the dashboard loads {asset} from elsewhere"
        if asset.startswith("/static/"):
            assert client.get(asset).status_code == 200, asset
    # The live map links to it too (the shared top bar).
    assert 'href="/dashboard/"' in client.get("/").content.decode()


def test_a_day_whose_midnight_a_clock_change_skips_is_one_bucket(db, viewer_client, settings):
    # Santiago moved its clocks from 00:00 to 01:00 on 2026-09-06: that day starts at 01:00.
    settings.TIME_ZONE = "America/Santiago"
    camera = CameraFactory(slug="santiago")
    for hour in (3, 20):  # UTC: 23:00 on the 5th and 17:00 on the 6th, local
        PlateEventFactory(camera=camera, captured_at=datetime(2026, 9, 6, hour, tzinfo=UTC))
    event_statistics_rollup()
    body = viewer_client.get(
        URL, {"since": "2026-09-05T04:00:00Z", "until": "2026-09-07T03:00:00Z", "interval": "day"}
    ).json()
    assert [(b["start"], b["count"]) for b in body["buckets"]] == [
        ("2026-09-05T00:00:00-04:00", 1),
        ("2026-09-06T01:00:00-03:00", 1),
    ]


@pytest.mark.parametrize("path", [URL, "/api/events/", "/api/events/?format=csv"])
@pytest.mark.parametrize("value", ["²", "１", "٣"])
def test_a_camera_named_by_digits_of_other_scripts_is_a_slug_not_a_500(
    db, viewer_client, path, value
):
    CameraFactory(pk=3, slug="three")
    PlateEventFactory(camera=Camera.objects.get(pk=3))
    separator = "&" if "?" in path else "?"
    response = viewer_client.get(f"{path}{separator}camera={value}")
    assert response.status_code in (200, 400), response.content
    if response.status_code == 200 and "csv" not in path and path != URL:
        assert response.json()["results"] == []


def test_a_page_size_in_other_digits_is_a_400(db, viewer_client):
    response = viewer_client.get("/api/events/", {"page_size": "²"})
    assert response.status_code == 400 and "page_size" in response.json()["errors"]
