"""The admin as the operators' console, driven through its real forms by a signed-in operator:
the same refusals and messages as the API, bulk actions, version activation, device keys."""

import json
import re

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from rest_framework.test import APIClient

from cameras.models import (
    Camera,
    DeviceKey,
    EdgeDevice,
    ModelConfig,
    SensorSettings,
    Zone,
    key_digest,
)
from cameras.tests.factories import (
    CameraFactory,
    EdgeDeviceFactory,
    ModelConfigFactory,
    SensorSettingsFactory,
    ZoneFactory,
    square,
)

pytestmark = pytest.mark.django_db

UNCLOSED = {
    "type": "Polygon",
    "coordinates": [[[-0.128, 51.507], [-0.127, 51.507], [-0.127, 51.508], [-0.128, 51.508]]],
}
UNCLOSED_MESSAGE = "polygon ring 0 is not closed: its first and last positions differ."


@pytest.fixture
def console(operator):
    client = Client()
    client.force_login(operator)
    return client


def _management_data(response) -> dict:
    """The hidden management fields of every inline on an admin form page."""
    data = {}
    for inline in response.context["inline_admin_formsets"]:
        form = inline.formset.management_form
        data.update({form.add_prefix(name): value for name, value in form.initial.items()})
    return data


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _camera_form(console, **fields) -> dict:
    page = console.get("/admin/cameras/camera/add/")
    assert page.status_code == 200
    data = _management_data(page)
    data.update({"name": "North gate", "slug": "north-gate", "status": "active", "metadata": "{}"})
    data.update(fields)
    return data


def _device_key_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


# --- Zones: the same geometry refusal as the API ------------------------------------------


def test_zone_form_refuses_bad_geometry_on_the_field_with_the_api_message(
    console, operator_client, camera
):
    response = console.post(
        "/admin/cameras/zone/add/",
        {"camera": camera.id, "name": "Lane", "kind": "entry", "geometry": json.dumps(UNCLOSED)},
    )
    assert response.status_code == 200  # the form again, not a redirect
    assert response.context["adminform"].form.errors == {"geometry": [UNCLOSED_MESSAGE]}
    assert not Zone.objects.exists()

    api = operator_client.post(
        "/api/zones/",
        {"camera": camera.id, "name": "Lane", "kind": "entry", "geometry": UNCLOSED},
        format="json",
    )
    assert api.json()["errors"] == {"geometry": [UNCLOSED_MESSAGE]}


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        ({"type": "Point", "coordinates": [0, 0]}, "Geometry type 'Point' is not allowed"),
        (square(lon=200), "longitude 200 is out of range (-180..180)."),
        ("{not json", "Enter a valid JSON."),
    ],
)
def test_zone_form_refuses_other_bad_geometry(console, camera, geometry, message):
    value = geometry if isinstance(geometry, str) else json.dumps(geometry)
    response = console.post(
        "/admin/cameras/zone/add/",
        {"camera": camera.id, "name": "Lane", "kind": "entry", "geometry": value},
    )
    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["geometry"]
    assert message in error
    assert not Zone.objects.exists()


def test_zone_form_saves_a_good_zone(console, camera):
    response = console.post(
        "/admin/cameras/zone/add/",
        {"camera": camera.id, "name": "Lane", "kind": "exit", "geometry": json.dumps(square())},
    )
    assert response.status_code == 302
    zone = Zone.objects.get()
    assert (zone.camera, zone.kind, zone.geometry) == (camera, "exit", square())


def test_camera_page_edits_zones_inline_and_shows_geometry_errors_on_the_field(console):
    data = _camera_form(
        console,
        **{
            "zones-TOTAL_FORMS": "1",
            "zones-0-name": "Lane",
            "zones-0-kind": "entry",
            "zones-0-enabled": "on",
            "zones-0-geometry": json.dumps(UNCLOSED),
        },
    )
    response = console.post("/admin/cameras/camera/add/", data)
    assert response.status_code == 200
    [zones] = [
        f.formset for f in response.context["inline_admin_formsets"] if f.formset.prefix == "zones"
    ]
    assert zones.errors == [{"geometry": [UNCLOSED_MESSAGE]}]
    assert not Camera.objects.exists() and not Zone.objects.exists()

    data["zones-0-geometry"] = json.dumps(square())
    assert console.post("/admin/cameras/camera/add/", data).status_code == 302
    camera = Camera.objects.get()
    assert [(z.name, z.geometry) for z in camera.zones.all()] == [("Lane", square())]


def test_malformed_json_in_a_camera_form_is_a_field_error(console):
    response = console.post("/admin/cameras/camera/add/", _camera_form(console, metadata="{oops"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"metadata": ["Enter a valid JSON."]}
    assert not Camera.objects.exists()


# --- Sensor settings ---------------------------------------------------------------------


def test_sensor_form_refuses_a_zone_of_another_camera(console, camera):
    foreign_zone = ZoneFactory(camera=CameraFactory())
    response = console.post(
        "/admin/cameras/sensorsettings/add/",
        {
            "camera": camera.id,
            "zone": foreign_zone.id,
            "confidence_threshold": "0.7",
            "capture_interval_ms": "200",
            "heartbeat_interval_s": "60",
            "image_upload_policy": "plate_crop",
            "extra": "{}",
            "enabled": "on",
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "zone": ["This zone belongs to another camera."]
    }
    assert not SensorSettings.objects.exists()


def test_bulk_disable_and_enable_sensors(console):
    on = [SensorSettingsFactory(), SensorSettingsFactory()]
    untouched = SensorSettingsFactory()
    url = "/admin/cameras/sensorsettings/"
    response = console.post(
        url, {"action": "disable", "_selected_action": [s.id for s in on]}, follow=True
    )
    assert "2 sensor setting(s) disabled." in _messages(response)
    assert set(SensorSettings.objects.filter(enabled=False)) == set(on)

    response = console.post(url, {"action": "enable", "_selected_action": [on[0].id]}, follow=True)
    assert "1 sensor setting(s) enabled." in _messages(response)
    assert set(SensorSettings.objects.filter(enabled=True)) == {on[0], untouched}


# --- Model versions ----------------------------------------------------------------------


def test_activate_action_switches_the_version(console):
    old = ModelConfigFactory(name="plate-ocr", version="1.0.0", is_active=True)
    new = ModelConfigFactory(name="plate-ocr", version="1.1.0")
    response = console.post(
        "/admin/cameras/modelconfig/",
        {"action": "activate", "_selected_action": [new.id]},
        follow=True,
    )
    assert "plate-ocr 1.1.0 is now the active version." in _messages(response)
    assert list(ModelConfig.objects.filter(is_active=True)) == [new]
    old.refresh_from_db()
    assert not old.is_active


def test_activate_action_refuses_two_versions_of_one_model(console):
    old = ModelConfigFactory(name="plate-ocr", version="1.0.0", is_active=True)
    a = ModelConfigFactory(name="plate-ocr", version="1.1.0")
    b = ModelConfigFactory(name="plate-ocr", version="1.2.0")
    response = console.post(
        "/admin/cameras/modelconfig/",
        {"action": "activate", "_selected_action": [a.id, b.id]},
        follow=True,
    )
    assert any("Select one version per model" in m for m in _messages(response))
    assert list(ModelConfig.objects.filter(is_active=True)) == [old]


def test_model_form_refuses_a_second_active_version_on_is_active(console):
    ModelConfigFactory(name="plate-ocr", version="1.0.0", is_active=True)
    response = console.post(
        "/admin/cameras/modelconfig/add/",
        {
            "name": "plate-ocr",
            "version": "1.1.0",
            "task": "ocr",
            "parameters": "{}",
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "is_active": ["Another version of this model is already active."]
    }
    assert ModelConfig.objects.count() == 1


# --- Every list: filters and search answer -------------------------------------------------


@pytest.mark.parametrize(
    ("model", "params"),
    [
        ("camera", {"q": "gate", "status__exact": "active"}),
        ("zone", {"q": "lane", "kind__exact": "entry", "enabled__exact": "1"}),
        ("modelconfig", {"q": "ocr", "is_active__exact": "1", "task__exact": "ocr"}),
        ("sensorsettings", {"q": "gate", "enabled__exact": "0"}),
        ("edgedevice", {"q": "box", "is_active__exact": "1"}),
    ],
)
def test_lists_filter_and_search(console, model, params):
    camera = CameraFactory(name="North gate")
    ZoneFactory(camera=camera, name="lane 1")
    SensorSettingsFactory(camera=camera, enabled=False)
    ModelConfigFactory(name="plate-ocr", is_active=True)
    EdgeDeviceFactory(name="gate-box").cameras.add(camera)
    response = console.get(f"/admin/cameras/{model}/", params)
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


def test_a_viewer_cannot_use_the_console(viewer, camera):
    client = Client()
    client.force_login(viewer)  # not staff
    response = client.get("/admin/cameras/camera/")
    assert response.status_code == 302 and "/login/" in response["Location"]


# --- Edge devices and their keys -----------------------------------------------------------

KEY = re.compile(r"(anprd_[A-Za-z0-9_-]+)")


def _device_form(console, **fields) -> dict:
    page = console.get("/admin/cameras/edgedevice/add/")
    data = _management_data(page)
    data.update({"name": "gate-box-9", "is_active": "on", "notes": ""})
    data.update(fields)
    return data


def test_creating_a_device_shows_its_key_once_and_stores_only_its_digest(console, camera):
    response = console.post(
        "/admin/cameras/edgedevice/add/",
        _device_form(console, cameras=[camera.id]),
        follow=True,
    )
    [key] = [KEY.search(m).group(1) for m in _messages(response) if KEY.search(m)]
    device = EdgeDevice.objects.get(name="gate-box-9")
    [record] = device.keys.all()
    assert record.digest == key_digest(key) and key.startswith(record.prefix)
    assert not DeviceKey.objects.filter(digest=key).exists()
    # Not shown again.
    assert key not in console.get(f"/admin/cameras/edgedevice/{device.id}/change/").content.decode()
    assert key not in console.get("/admin/cameras/edgedevice/").content.decode()
    assert _device_key_client(key).get("/api/devices/me/config/").status_code == 200


def test_rotating_keeps_both_keys_working_until_the_old_is_revoked(console, device_with_key):
    device, old_key = device_with_key
    url = "/admin/cameras/edgedevice/"
    response = console.post(
        url, {"action": "rotate_key", "_selected_action": [device.id]}, follow=True
    )
    [new_key] = [KEY.search(m).group(1) for m in _messages(response) if KEY.search(m)]
    assert new_key != old_key
    assert not DeviceKey.objects.filter(digest__in=[old_key, new_key]).exists()

    for key in (old_key, new_key):
        assert _device_key_client(key).get("/api/devices/me/config/").status_code == 200

    response = console.post(
        url, {"action": "revoke_old_keys", "_selected_action": [device.id]}, follow=True
    )
    assert "1 key(s) revoked." in _messages(response)
    refused = _device_key_client(old_key).get("/api/devices/me/config/")
    assert refused.status_code == 401 and refused.json()["code"] == "authentication_failed"
    assert _device_key_client(new_key).get("/api/devices/me/config/").status_code == 200
