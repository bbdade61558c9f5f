"""Times from outside are held to what PostgreSQL stores (core/timestamps.py): the fuzzer
found `until=4283-06-10T23:25:55-16:19` (an offset PostgreSQL refuses) answering 500. Every
time filter, field, ingest time and cursor answers a 400 naming the parameter instead, and
the edges PostgreSQL accepts still work. These run on the test database (PostgreSQL in CI)."""

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.test import Client
from django.utils import timezone as django_timezone

from core.timestamps import timestamp_check

OFFSET = "The UTC offset must be between -15:59 and +15:59 (e.g. Z or +01:00)."
RANGE = "Must be between the years 2 and 9998 (UTC)."

pytestmark = pytest.mark.django_db


def test_timestamp_check():
    good = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=15, minutes=59, seconds=59)))
    assert timestamp_check(good) is good
    assert timestamp_check(datetime(2, 1, 1, tzinfo=UTC))
    assert timestamp_check(datetime(9998, 12, 31, 23, 59))  # naive: read as UTC
    for offset in (timedelta(hours=16), timedelta(hours=-16, minutes=-19)):
        with pytest.raises(ValueError, match="UTC offset"):
            timestamp_check(datetime(2026, 1, 1, tzinfo=timezone(offset)))
    for moment in (
        datetime(1, 12, 31, 23, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),  # year 0 in UTC
        datetime(9999, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))),  # year 10000 in UTC
    ):
        with pytest.raises(ValueError, match="years 2 and 9998"):
            timestamp_check(moment)


@pytest.fixture
def admin_client(admin_user, api_client):
    api_client.force_authenticate(admin_user)
    api_client.raise_request_exception = False
    return api_client


@pytest.mark.parametrize(
    ("url", "parameter", "message"),
    [
        ("/api/events/?until=4283-06-10T23:25:55-16:19", "until", OFFSET),
        ("/api/events/?since=2026-01-01T00:00:00%2B16:00", "since", OFFSET),
        ("/api/events/?received_after=0001-01-01T00:00:00%2B01:00", "received_after", RANGE),
        ("/api/events/?since=9999-12-31T23:00:00-05:00", "since", RANGE),
        (
            "/api/exporter-deliveries/?delivered_after=0002-01-19T08:59:45%2B22:02",
            "delivered_after",
            OFFSET,
        ),
        (
            "/api/exporter-deliveries/?delivered_before=2026-01-01T00:00:00-17:00",
            "delivered_before",
            OFFSET,
        ),
        ("/api/exporter-deliveries/?created_after=9999-06-01T00:00:00Z", "created_after", RANGE),
        ("/api/exporter-deliveries/?created_before=0001-06-01T00:00:00Z", "created_before", RANGE),
        (
            "/api/events/stats/?since=9999-12-31T21:00:00Z&until=9999-12-31T23:00:00Z",
            "until",
            RANGE,
        ),
        ("/api/events/stats/?until=2026-01-01T00:00:00%2B20:00", "until", OFFSET),
    ],
)
def test_a_time_postgresql_cannot_store_is_a_400_naming_the_parameter(
    admin_client, url, parameter, message
):
    response = admin_client.get(url)
    assert response.status_code == 400, response.content
    assert response.json()["errors"][parameter] == [message]


@pytest.mark.parametrize(
    "url",
    [
        "/api/events/?until=2026-06-10T23:25:55-15:59",
        "/api/events/?since=0002-01-01T00:00:00Z&until=9998-12-31T00:00:00%2B15:00",
        "/api/exporter-deliveries/?delivered_after=2026-01-19T08:59:45%2B14:00",
        "/api/events/stats/?since=9998-01-01T00:00:00Z&until=9998-12-31T00:00:00Z",
    ],
)
def test_the_edges_postgresql_accepts_still_answer(admin_client, url):
    assert admin_client.get(url).status_code == 200


def test_an_ingest_time_postgresql_cannot_store_is_refused_naming_captured_at(device_client):
    device_client.raise_request_exception = False
    read = {"plate": "AB12CDE", "captured_at": "2026-01-01T00:00:00+20:00"}
    single = device_client.post("/api/events/ingest/", read, format="json")
    assert single.status_code == 400, single.content
    assert single.json()["errors"] == {"captured_at": [OFFSET]}
    batch = device_client.post("/api/events/ingest/", [read], format="json")
    assert batch.json()["results"][0]["errors"] == {"captured_at": [OFFSET]}


def test_a_cursor_with_a_time_postgresql_cannot_store_is_invalid(admin_client):
    moment = "4283-06-10T23:25:55-16:19"
    cursor = base64.urlsafe_b64encode(f"{moment}|{uuid.uuid4()}".encode()).decode()
    response = admin_client.get(f"/api/events/?cursor={cursor}")
    assert response.status_code == 400, response.content
    assert response.json()["errors"] == {"cursor": ["Invalid cursor."]}


def test_a_page_cursor_round_trips(admin_client, device_client):
    now = django_timezone.now()
    reads = [
        {"plate": f"AB{n}CDE", "captured_at": (now - timedelta(minutes=n)).isoformat()}
        for n in range(3)
    ]
    assert device_client.post("/api/events/ingest/", reads, format="json").status_code == 201
    first = admin_client.get("/api/events/?page_size=2").json()
    second = admin_client.get(first["next"]).json()
    plates = [e["plate"] for e in first["results"] + second["results"]]
    assert plates == ["AB0CDE", "AB1CDE", "AB2CDE"]
    assert json.dumps(second)  # a plain JSON page


@pytest.mark.parametrize(
    ("page", "lookup", "value"),
    [
        ("/admin/events/plateevent/", "captured_at__gte", "4283-06-10T23:25:55-16:19"),
        ("/admin/exporters/exportdelivery/", "created_at__gte", "2026-01-01T00:00:00+22:00"),
        ("/admin/events/purgerun/", "started_at__lt", "0001-01-01T00:00:00+01:00"),
    ],
)
def test_an_admin_change_list_refuses_such_a_time_typed_into_its_url(
    admin_user, page, lookup, value
):
    console = Client(raise_request_exception=False)
    console.force_login(admin_user)
    assert console.get(page, {lookup: value}).status_code == 400
    assert console.get(page, {lookup: "2026-01-01 00:00:00+00:00"}).status_code == 200


@pytest.mark.parametrize(
    ("page", "lookup", "value"),
    [
        ("/admin/events/plateevent/", "captured_at__in", "4283-06-10T23:25:55-16:19"),
        ("/admin/exporters/exportdelivery/", "delivered_at__in", "0002-01-19T08:59:45+22:02"),
        (
            "/admin/events/plateevent/",
            "received_at__range",
            "2026-01-01T00:00:00Z,9999-06-01T00:00:00Z",
        ),
    ],
)
def test_an_admin_change_list_checks_each_time_of_an_in_or_range_lookup(
    admin_user, page, lookup, value
):
    """`in` and `range` hold several times (split on commas): each is held to the check."""
    console = Client(raise_request_exception=False)
    console.force_login(admin_user)
    assert console.get(page, {lookup: value}).status_code == 400
    good = "2026-01-01 00:00:00+00:00,2026-01-02T00:00:00Z"
    assert console.get(page, {lookup.replace("__range", "__in"): good}).status_code == 200
