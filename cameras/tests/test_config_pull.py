"""GET /api/devices/me/config/: what an edge device runs, its ETag, and what it must not see."""

import pytest
from rest_framework.test import APIClient

from cameras.models import EdgeDevice
from cameras.services import device_create
from cameras.tests.factories import (
    CameraFactory,
    ModelConfigFactory,
    SensorSettingsFactory,
    ZoneFactory,
    square,
)

pytestmark = pytest.mark.django_db

URL = "/api/devices/me/config/"


def _client_for(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def configured(camera):
    """The fixture device's camera with credentials, zones, sensors and model versions."""
    camera.stream_url = "rtsp://10.0.0.5:554/stream1"
    camera.stream_username = "admin"
    camera.stream_password = "s3cret"
    camera.save()
    lane = ZoneFactory(camera=camera, name="lane", kind="entry")
    off = ZoneFactory(camera=camera, name="off", enabled=False)
    ModelConfigFactory(name="plate-ocr", version="1.0.0")
    active = ModelConfigFactory(name="plate-ocr", version="1.1.0", is_active=True)
    ModelConfigFactory(name="unused", version="9.0.0", is_active=True)
    sensor = SensorSettingsFactory(camera=camera, zone=lane, model_config=active)
    SensorSettingsFactory(camera=camera, enabled=False)
    SensorSettingsFactory(camera=camera, zone=off)
    return {"camera": camera, "lane": lane, "sensor": sensor}


def test_device_gets_its_cameras_zones_sensors_and_active_models(device_client, configured):
    response = device_client.get(URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["device"]["name"] == "gate-box-1"
    [camera] = body["cameras"]
    assert camera["slug"] == configured["camera"].slug
    assert camera["stream_url"] == "rtsp://admin:s3cret@10.0.0.5:554/stream1"
    # Only enabled zones; only enabled sensors (and not one watching a disabled zone).
    assert [(z["id"], z["name"], z["geometry"]) for z in camera["zones"]] == [
        (configured["lane"].id, "lane", square())
    ]
    [sensor] = camera["sensor_settings"]
    assert sensor["id"] == configured["sensor"].id
    assert sensor["zone"] == configured["lane"].id and sensor["model"] == "plate-ocr"
    # The active version of each model in use, not other models.
    assert [(m["name"], m["version"]) for m in body["model_configs"]] == [("plate-ocr", "1.1.0")]


def test_a_sensor_follows_the_activated_version(device_client, operator_client, configured):
    old = device_client.get(URL).json()["model_configs"]
    newer = ModelConfigFactory(name="plate-ocr", version="2.0.0", parameters={"beam": 5})
    assert operator_client.post(f"/api/model-configs/{newer.id}/activate/").status_code == 200
    new = device_client.get(URL).json()["model_configs"]
    assert [m["version"] for m in old] == ["1.1.0"]
    assert [(m["version"], m["parameters"]) for m in new] == [("2.0.0", {"beam": 5})]


def test_etag_gives_304_until_an_operator_edits_a_sensor(
    device_client, operator_client, configured
):
    first = device_client.get(URL)
    etag = first["ETag"]
    assert first.status_code == 200 and etag.startswith('"') and not etag.startswith("W/")
    assert "no-cache" in first["Cache-Control"] and "private" in first["Cache-Control"]

    again = device_client.get(URL, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b"" and again["ETag"] == etag

    edit = operator_client.patch(
        f"/api/sensor-settings/{configured['sensor'].id}/",
        {"confidence_threshold": 0.9},
        format="json",
    )
    assert edit.status_code == 200
    changed = device_client.get(URL, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert changed.json()["cameras"][0]["sensor_settings"][0]["confidence_threshold"] == 0.9
    assert device_client.get(URL, HTTP_IF_NONE_MATCH=changed["ETag"]).status_code == 304


def test_a_saved_but_unchanged_config_keeps_its_etag(device_client, configured):
    etag = device_client.get(URL)["ETag"]
    configured["sensor"].save()  # updated_at moves; what the device runs does not
    assert device_client.get(URL, HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_another_devices_cameras_never_appear(device_client, configured):
    foreign = CameraFactory(slug="foreign-cam", stream_url="rtsp://10.9.9.9/s")
    foreign.stream_password = "foreign-pass"
    foreign.stream_username = "foreign-user"
    foreign.save()
    ZoneFactory(camera=foreign, name="foreign-zone")
    SensorSettingsFactory(
        camera=foreign, model_config=ModelConfigFactory(name="foreign-model", is_active=True)
    )
    _, foreign_key = device_create(name="other-box", cameras=[foreign])

    mine = device_client.get(URL).content.decode()
    for secret in ("foreign-cam", "foreign-pass", "foreign-zone", "foreign-model"):
        assert secret not in mine
    theirs = _client_for(foreign_key.key).get(URL).json()
    assert [c["slug"] for c in theirs["cameras"]] == ["foreign-cam"]
    assert configured["camera"].slug not in str(theirs)


def test_the_pull_costs_the_same_few_queries_however_many_cameras(
    device_client, device_with_key, django_assert_max_num_queries
):
    device, _ = device_with_key
    for _ in range(5):
        camera = CameraFactory()
        device.cameras.add(camera)
        zone = ZoneFactory(camera=camera)
        model = ModelConfigFactory(name=f"model-{camera.slug}", is_active=True)
        SensorSettingsFactory(camera=camera, zone=zone, model_config=model)
    # key, presence, cameras, zones, sensors (with zone and model), active models
    with django_assert_max_num_queries(6):
        body = device_client.get(URL).json()
    assert len(body["cameras"]) == 6 and len(body["model_configs"]) == 5


def test_a_device_without_cameras_gets_an_empty_config(db):
    _, issued = device_create(name="idle-box")
    body = _client_for(issued.key).get(URL).json()
    assert body["cameras"] == [] and body["model_configs"] == []


def test_credentials_appear_in_the_config_pull_only(device_client, operator_client, configured):
    camera = configured["camera"]
    assert "s3cret" in device_client.get(URL).content.decode()
    for path in ("/api/cameras/", f"/api/cameras/{camera.id}/", "/api/sensor-settings/"):
        assert "s3cret" not in operator_client.get(path).content.decode()


def test_the_pull_records_device_presence(device_client, device_with_key):
    device, _ = device_with_key
    assert device.last_seen_at is None
    assert device_client.get(URL).status_code == 200
    device.refresh_from_db()
    assert device.last_seen_at is not None


def test_users_and_bad_keys_are_refused(operator_client, api_client, device_with_key, configured):
    for client in (operator_client, api_client, _client_for("anprd_not-a-key")):
        response = client.get(URL)
        assert response.status_code in (401, 403)
        assert "s3cret" not in response.content.decode()
        assert set(response.json()) == {"detail", "code"}


def test_an_inactive_device_is_refused(device_with_key, device_client, configured):
    device, _ = device_with_key
    EdgeDevice.objects.filter(pk=device.pk).update(is_active=False)
    response = device_client.get(URL)
    assert response.status_code == 401 and "s3cret" not in response.content.decode()
