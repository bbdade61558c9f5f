"""The per-process device cache (cameras/directory.py) on PostgreSQL: a busy device's requests
stop looking up its key and cameras, and a change committed by any other process is seen by
the very next request."""

import time
import uuid

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from cameras.directory import device_directory
from cameras.tests.factories import CameraFactory
from conftest import require_service
from events.models import PlateEvent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cached(settings):
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "the device cache listens (LISTEN/NOTIFY); SQLite looks up")
    settings.DEVICE_CACHE_SECONDS = 300


@pytest.fixture
def elsewhere():
    """A connection of another process (autocommit: each statement commits)."""
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        yield other


def delivered():
    """Wait until PostgreSQL has delivered a change's notification to this process, which
    the cache then drops everything for: it promises no more (and no less) than that."""
    deadline = time.monotonic() + 5
    while len(device_directory) and time.monotonic() < deadline:
        device_directory.usable()
        time.sleep(0.001)
    assert len(device_directory) == 0, "no notification from PostgreSQL"


def post(client, camera_ref: str, plate: str = "AB12CDE", **fields):
    return client.post(
        "/api/events/ingest/",
        {
            "event_id": uuid.uuid4().hex,
            "camera": camera_ref,
            "plate": plate,
            "captured_at": timezone.now().isoformat(),
            **fields,
        },
        format="json",
    )


def device_lookups(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if "cameras_devicekey" in q["sql"] or "cameras_edgedevice_cameras" in q["sql"]
    ]


def test_a_busy_device_is_looked_up_once_and_a_bookkeeping_write_keeps_it(
    cached, device_client, camera, elsewhere
):
    assert post(device_client, camera.slug).status_code == 201
    with CaptureQueriesContext(connection) as second:
        assert post(device_client, camera.slug).status_code == 201
    assert device_lookups(second.captured_queries) == []
    # last_seen_at is written by every busy device each minute: not a change of the cache.
    elsewhere.execute("UPDATE cameras_camera SET last_seen_at = now()")
    elsewhere.execute("UPDATE cameras_edgedevice SET last_seen_at = now()")
    time.sleep(0.2)
    with CaptureQueriesContext(connection) as third:
        assert post(device_client, camera.slug).status_code == 201
    assert device_lookups(third.captured_queries) == []
    assert PlateEvent.objects.count() == 3


def test_a_key_revoked_by_another_process_is_refused_by_the_next_request(
    cached, device_client, camera, elsewhere
):
    assert post(device_client, camera.slug).status_code == 201
    elsewhere.execute("UPDATE cameras_devicekey SET revoked_at = now()")
    delivered()
    refused = post(device_client, camera.slug, plate="GONE1")
    assert refused.status_code == 401
    assert not PlateEvent.objects.filter(plate="GONE1").exists()


def test_a_deactivated_device_and_a_camera_taken_away_are_seen_at_once(
    cached, device_with_key, camera, elsewhere
):
    device, key = device_with_key
    yard = CameraFactory(slug="yard")
    device.cameras.add(yard)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert post(client, "yard").status_code == 201
    elsewhere.execute("DELETE FROM cameras_edgedevice_cameras WHERE camera_id = %s", [yard.pk])
    delivered()
    refused = post(client, "yard", plate="MOVED1")
    assert refused.status_code == 400
    assert "yard" in refused.json()["errors"]["camera"][0]
    assert post(client, camera.slug).status_code == 201
    elsewhere.execute("UPDATE cameras_camera SET slug = 'gate-renamed' WHERE id = %s", [camera.pk])
    delivered()
    assert post(client, "gate-renamed").status_code == 201
    elsewhere.execute("UPDATE cameras_edgedevice SET is_active = false")
    delivered()
    assert post(client, "gate-renamed", plate="OFF1").status_code == 401


def test_an_exporter_enabled_by_another_process_gets_the_next_read(
    cached, device_client, camera, elsewhere
):
    from exporters.models import ExportDelivery, ExporterConfig

    exporter = ExporterConfig.objects.create(
        name="city-hub", url="https://hub.example.org/anpr", enabled=False
    )
    assert post(device_client, camera.slug).status_code == 201
    elsewhere.execute(
        "UPDATE exporters_exporterconfig SET enabled = true WHERE id = %s", [exporter.pk]
    )
    delivered()
    created = post(device_client, camera.slug, plate="SENT1")
    assert created.status_code == 201
    assert ExportDelivery.objects.filter(exporter=exporter, events__plate="SENT1").exists()


def test_a_new_database_connection_starts_with_an_empty_cache(cached, device_client, camera):
    assert post(device_client, camera.slug).status_code == 201
    connection.close()  # e.g. CONN_MAX_AGE, or a server restart; the notifications were lost
    with CaptureQueriesContext(connection) as after:
        assert post(device_client, camera.slug).status_code == 201
    assert len(device_lookups(after.captured_queries)) == 2


def test_a_zone_renamed_by_another_process_is_seen_by_the_next_read(
    cached, device_client, camera, elsewhere
):
    from cameras.tests.factories import ZoneFactory

    zone = ZoneFactory(camera=camera, name="lane 1")
    created = post(device_client, camera.slug, zone="lane 1")
    assert created.status_code == 201
    elsewhere.execute("UPDATE cameras_zone SET name = 'exit lane' WHERE id = %s", [zone.pk])
    delivered()
    refused = post(device_client, camera.slug, zone="lane 1")
    assert refused.status_code == 400 and "zone" in refused.json()["errors"]
    assert post(device_client, camera.slug, zone="exit lane").status_code == 201
