"""Fixtures of the watchlists tests."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cameras.services import device_create
from events.reads import ReadIn
from events.services.ingest import plate_events_ingest


@pytest.fixture
def device(device_with_key):
    return device_with_key[0]


@pytest.fixture
def ingest(device):
    """ingest(plate, **read fields) -> the stored read's result, as a device posts it."""

    def post(plate: str, *, device=device, **fields):
        fields.setdefault("captured_at", timezone.now() - timedelta(seconds=5))
        [result] = plate_events_ingest(device=device, reads=[ReadIn(plate=plate, **fields)])
        return result

    return post


@pytest.fixture
def two_cameras(db):
    from cameras.tests.factories import CameraFactory

    north, south = CameraFactory(slug="north"), CameraFactory(slug="south")
    device, _ = device_create(name="two", cameras=[north, south])
    return north, south, device
