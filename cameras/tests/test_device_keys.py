"""Edge device keys: shown once, stored as a digest, revocable, rotatable with an overlap."""

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from cameras import services
from cameras.models import DeviceKey, EdgeDevice
from cameras.selectors import device_for_key

pytestmark = pytest.mark.django_db


def _status_with_key(key: str, header: str = "token") -> int:
    """A device key on a user endpoint: a live key is recognised (403, a device may not read
    configuration); a dead key is not (401)."""
    client = APIClient()
    if header == "token":
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    else:
        client.credentials(HTTP_X_API_KEY=key)
    return client.get("/api/cameras/").status_code


def test_create_returns_the_key_once_and_stores_only_its_digest(operator_client, camera):
    response = operator_client.post(
        "/api/devices/", {"name": "north-gate-box", "cameras": [camera.id]}, format="json"
    )
    assert response.status_code == 201, response.json()
    key = response.json()["key"]
    assert len(key) >= 43  # 32 random bytes, url-safe base64, plus a prefix

    stored = DeviceKey.objects.get()
    assert stored.digest == hashlib.sha256(key.encode()).hexdigest()
    assert key not in {getattr(stored, f.attname) for f in DeviceKey._meta.fields}
    assert key.startswith(stored.prefix)

    again = operator_client.get(f"/api/devices/{response.json()['id']}/")
    listed = operator_client.get("/api/devices/")
    assert key not in again.content.decode() and key not in listed.content.decode()
    assert "key" not in again.json()
    assert again.json()["keys"][0]["prefix"] == stored.prefix


def test_both_headers_carry_the_key(device_with_key):
    _, key = device_with_key
    assert _status_with_key(key, "token") == 403
    assert _status_with_key(key, "x-api-key") == 403
    assert _status_with_key(key + "x") == 401


def test_a_revoked_key_is_refused(operator_client, device_with_key):
    device, key = device_with_key
    record = device.keys.get()
    response = operator_client.post(f"/api/devices/{device.id}/keys/{record.id}/revoke/")
    assert response.status_code == 200 and response.json()["revoked_at"]
    assert device_for_key(key=key) is None
    assert _status_with_key(key) == 401


def test_rotation_keeps_both_keys_until_the_old_one_is_revoked(operator_client, device_with_key):
    device, old_key = device_with_key
    rotated = operator_client.post(f"/api/devices/{device.id}/rotate-key/")
    assert rotated.status_code == 201
    new_key = rotated.json()["key"]
    assert new_key != old_key
    assert device_for_key(key=old_key) == device
    assert device_for_key(key=new_key) == device

    old_record = DeviceKey.objects.get(device=device, prefix=old_key[:12])
    operator_client.post(f"/api/devices/{device.id}/keys/{old_record.id}/revoke/")
    assert device_for_key(key=old_key) is None
    assert device_for_key(key=new_key) == device


def test_an_inactive_device_is_refused(device_with_key):
    device, key = device_with_key
    EdgeDevice.objects.filter(pk=device.pk).update(is_active=False)
    assert _status_with_key(key) == 401


def test_viewer_cannot_rotate_or_revoke(viewer_client, device_with_key):
    device, key = device_with_key
    record = device.keys.get()
    assert viewer_client.post(f"/api/devices/{device.id}/rotate-key/").status_code == 403
    revoke = viewer_client.post(f"/api/devices/{device.id}/keys/{record.id}/revoke/")
    assert revoke.status_code == 403
    assert device.keys.count() == 1 and device_for_key(key=key) == device


def test_last_seen_is_written_at_most_once_a_minute(
    device_with_key, camera, django_assert_num_queries
):
    device, _ = device_with_key
    services.device_touch(device=device, cameras=[camera])
    first = EdgeDevice.objects.get(pk=device.pk).last_seen_at
    assert first is not None

    fresh = EdgeDevice.objects.get(pk=device.pk)
    camera.refresh_from_db()
    with django_assert_num_queries(0):
        services.device_touch(device=fresh, cameras=[camera])

    stale = first - timedelta(minutes=2)
    EdgeDevice.objects.filter(pk=device.pk).update(last_seen_at=stale)
    fresh = EdgeDevice.objects.get(pk=device.pk)
    services.device_touch(device=fresh)
    assert EdgeDevice.objects.get(pk=device.pk).last_seen_at > stale
    assert EdgeDevice.objects.get(pk=device.pk).last_seen_at <= timezone.now()
