"""Fixtures of the events tests."""

import pytest

from cameras.services import device_create
from cameras.tests.factories import CameraFactory, ZoneFactory

from .stream import session_headers


@pytest.fixture
def site(viewer):
    """Two cameras (one with a zone), a device posting for both, and a viewer's headers."""
    gate, yard = CameraFactory(slug="gate"), CameraFactory(slug="yard")
    zone = ZoneFactory(camera=gate, name="lane")
    device, _ = device_create(name="edge-1", cameras=[gate, yard])
    return {
        "gate": gate,
        "yard": yard,
        "zone": zone,
        "device": device,
        "headers": session_headers(viewer),
        "viewer": viewer,
    }


@pytest.fixture
def device(device_with_key):
    """An edge device with a key (the key is device_with_key's)."""
    return device_with_key[0]
