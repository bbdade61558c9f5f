"""A read older than its camera's retention period is refused naming `captured_at`: the next
purge would delete it at once. Native and vendor reads alike; retention 0 keeps every age."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from cameras.services import device_create
from cameras.tests.factories import CameraFactory
from events.models import PlateEvent
from events.tests.test_dialect_openalpr import sample, without_placeholder_crops

pytestmark = pytest.mark.django_db

NATIVE = "/api/events/ingest/"


@pytest.fixture(autouse=True)
def _retention(settings):
    settings.EVENT_RETENTION_DAYS = 90


def read_aged(days: float, **fields) -> dict:
    captured = timezone.now() - timedelta(days=days)
    return {"plate": "AB12CDE", "captured_at": captured.isoformat()} | fields


def test_a_read_older_than_the_retention_period_is_a_400_naming_captured_at(device_client):
    response = device_client.post(NATIVE, read_aged(91), format="json")
    assert response.status_code == 400
    [message] = response.json()["errors"]["captured_at"]
    assert "older than the retention period (90 days)" in message
    assert "deleted at the next purge" in message
    assert not PlateEvent.objects.exists()
    assert device_client.post(NATIVE, read_aged(89), format="json").status_code == 201


def test_the_cameras_own_period_decides(device_client, camera, settings):
    camera.retention_days = 7
    camera.save()
    short = device_client.post(NATIVE, read_aged(8), format="json")
    assert "(7 days)" in short.json()["errors"]["captured_at"][0]
    camera.retention_days = 365
    camera.save()
    assert device_client.post(NATIVE, read_aged(200), format="json").status_code == 201
    settings.EVENT_RETENTION_DAYS = 0  # keep for ever, unless the camera says otherwise
    camera.retention_days = None
    camera.save()
    assert device_client.post(NATIVE, read_aged(3650), format="json").status_code == 201


def test_in_a_batch_only_the_old_read_is_refused(device_client):
    response = device_client.post(
        NATIVE, [read_aged(1, event_id="new"), read_aged(400, event_id="old")], format="json"
    )
    assert response.status_code == 201
    fresh, stale = response.json()["results"]
    assert fresh["status"] == "created"
    assert stale["status"] == "rejected" and list(stale["errors"]) == ["captured_at"]


def test_a_vendor_read_dated_years_ago_is_refused_with_the_reason():
    """The OpenALPR documentation's group is from 2017."""
    camera = CameraFactory(external_id="1234")
    _, issued = device_create(name="agent", cameras=[camera])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issued.key}")
    group = without_placeholder_crops(sample("openalpr_alpr_group.json"))

    response = client.post("/api/ingest/openalpr/", group, format="json")

    assert response.status_code == 200
    [result] = response.json()["results"]
    assert result["status"] == "rejected"
    assert "older than the retention period" in result["errors"]["captured_at"][0]
