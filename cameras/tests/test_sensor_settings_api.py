"""Sensor settings over the API: CRUD, filters and refusals (a zone of another camera, ranges)."""

import pytest

from cameras.models import SensorSettings
from cameras.tests.factories import (
    CameraFactory,
    ModelConfigFactory,
    SensorSettingsFactory,
    ZoneFactory,
)

pytestmark = pytest.mark.django_db

URL = "/api/sensor-settings/"


def _payload(camera, **overrides):
    body = {
        "camera": camera.id,
        "confidence_threshold": 0.8,
        "capture_interval_ms": 250,
        "heartbeat_interval_s": 30,
        "image_upload_policy": "full_frame",
        "extra": {"lane": 2},
    }
    body.update(overrides)
    return body


def test_operator_creates_reads_updates_and_deletes_sensor_settings(operator_client, camera):
    zone = ZoneFactory(camera=camera)
    model = ModelConfigFactory()
    body = _payload(camera, zone=zone.id, model_config=model.id)
    created = operator_client.post(URL, body, format="json")
    assert created.status_code == 201, created.json()
    sensor_id = created.json()["id"]

    detail = operator_client.get(f"{URL}{sensor_id}/").json()
    assert (detail["camera"], detail["zone"], detail["model_config"]) == (
        camera.id,
        zone.id,
        model.id,
    )
    assert detail["extra"] == {"lane": 2} and detail["enabled"] is True

    patched = operator_client.patch(
        f"{URL}{sensor_id}/", {"enabled": False, "zone": None}, format="json"
    )
    assert patched.status_code == 200, patched.json()
    sensor = SensorSettings.objects.get()
    assert sensor.enabled is False and sensor.zone is None

    assert operator_client.delete(f"{URL}{sensor_id}/").status_code == 204
    assert not SensorSettings.objects.exists()


def test_filters_by_camera_enabled_policy_and_model(operator_client):
    north, south = CameraFactory(), CameraFactory()
    ocr = ModelConfigFactory(name="plate-ocr")
    a = SensorSettingsFactory(camera=north, model_config=ocr)
    b = SensorSettingsFactory(camera=north, enabled=False, image_upload_policy="none")
    c = SensorSettingsFactory(camera=south, image_upload_policy="none")

    def ids(**params):
        return {s["id"] for s in operator_client.get(URL, params).json()["results"]}

    assert ids(camera=north.id) == {a.id, b.id}
    assert ids(camera_slug=south.slug) == {c.id}
    assert ids(enabled="false") == {b.id}
    assert ids(image_upload_policy="none") == {b.id, c.id}
    assert ids(model_name="plate-ocr") == {a.id}
    assert ids(model_config=ocr.id) == {a.id}


def test_a_zone_of_another_camera_is_refused_naming_zone(operator_client, camera):
    foreign_zone = ZoneFactory(camera=CameraFactory())
    response = operator_client.post(URL, _payload(camera, zone=foreign_zone.id), format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"zone": ["This zone belongs to another camera."]}
    assert not SensorSettings.objects.exists()

    # Moving existing settings to another camera while keeping the old camera's zone: refused.
    own_zone = ZoneFactory(camera=camera)
    sensor = SensorSettingsFactory(camera=camera, zone=own_zone)
    other = CameraFactory()
    response = operator_client.patch(f"{URL}{sensor.id}/", {"camera": other.id}, format="json")
    assert response.status_code == 400 and "zone" in response.json()["errors"]
    sensor.refresh_from_db()
    assert sensor.camera == camera


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"confidence_threshold": 1.5}, "confidence_threshold"),
        ({"confidence_threshold": -0.1}, "confidence_threshold"),
        ({"capture_interval_ms": 5}, "capture_interval_ms"),
        ({"heartbeat_interval_s": 1}, "heartbeat_interval_s"),
        ({"image_upload_policy": "video"}, "image_upload_policy"),
        ({"extra": "not an object"}, "extra"),
        ({"model_config": 999999}, "model_config"),
    ],
)
def test_bad_values_are_refused_naming_the_field(operator_client, camera, overrides, field):
    response = operator_client.post(URL, _payload(camera, **overrides), format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not SensorSettings.objects.exists()


def test_viewer_reads_but_cannot_write(viewer_client, camera):
    sensor = SensorSettingsFactory(camera=camera)
    assert viewer_client.get(URL).json()["count"] == 1
    assert viewer_client.post(URL, _payload(camera), format="json").status_code == 403
    response = viewer_client.patch(f"{URL}{sensor.id}/", {"enabled": False}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    sensor.refresh_from_db()
    assert sensor.enabled is True and SensorSettings.objects.count() == 1


def test_device_key_cannot_write_sensor_settings(device_client, camera):
    response = device_client.post(URL, _payload(camera), format="json")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert not SensorSettings.objects.exists()


def test_unknown_sensor_settings_is_a_json_404(operator_client):
    response = operator_client.patch(f"{URL}999999/", {"enabled": False}, format="json")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}
