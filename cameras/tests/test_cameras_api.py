"""The camera slice over the API: CRUD, filters, refusals, write-only stream credentials."""

import pytest

from cameras.models import Camera, SensorSettings

pytestmark = pytest.mark.django_db

URL = "/api/cameras/"


def _payload(**overrides):
    body = {"slug": "north-gate", "name": "North gate", "latitude": 51.5, "longitude": -0.12}
    body.update(overrides)
    return body


def test_operator_creates_reads_updates_and_deletes_a_camera(operator_client):
    created = operator_client.post(URL, _payload(heading=90), format="json")
    assert created.status_code == 201, created.json()
    camera_id = created.json()["id"]

    detail = operator_client.get(f"{URL}{camera_id}/").json()
    assert detail["slug"] == "north-gate" and detail["heading"] == 90

    patched = operator_client.patch(f"{URL}{camera_id}/", {"status": "maintenance"}, format="json")
    assert patched.status_code == 200 and patched.json()["status"] == "maintenance"

    assert operator_client.delete(f"{URL}{camera_id}/").status_code == 204
    assert not Camera.objects.filter(pk=camera_id).exists()


def test_list_filters_by_status_and_searches_by_name(operator_client):
    from cameras.tests.factories import CameraFactory

    CameraFactory(name="Harbour entrance", status="active")
    CameraFactory(name="Harbour exit", status="maintenance")
    CameraFactory(name="Depot", status="active")

    active = operator_client.get(URL, {"status": "active"}).json()
    assert {c["name"] for c in active["results"]} == {"Harbour entrance", "Depot"}
    found = operator_client.get(URL, {"search": "harbour", "ordering": "-name"}).json()
    assert [c["name"] for c in found["results"]] == ["Harbour exit", "Harbour entrance"]
    assert found["count"] == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_payload(latitude=95), "latitude"),
        (_payload(longitude=None), "longitude"),
        (_payload(heading=360), "heading"),
        (_payload(resolution="big"), "resolution"),
        (_payload(resolution="²x1080"), "resolution"),
        (_payload(slug="has spaces"), "slug"),
    ],
)
def test_bad_values_are_refused_naming_the_field_and_write_nothing(operator_client, body, field):
    response = operator_client.post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not Camera.objects.exists()


def test_duplicate_slug_is_refused(operator_client, camera):
    response = operator_client.post(URL, _payload(slug=camera.slug), format="json")
    assert response.status_code == 400
    assert "slug" in response.json()["errors"]
    assert Camera.objects.count() == 1


def test_stream_credentials_are_write_only(operator_client):
    body = _payload(stream_url="rtsp://admin:s3cret@10.0.0.5:554/stream1")
    created = operator_client.post(URL, body, format="json")
    assert created.status_code == 201, created.json()
    listed = operator_client.get(URL).content.decode()
    detail = operator_client.get(f"{URL}{created.json()['id']}/").json()
    for text in (created.content.decode(), listed, str(detail)):
        assert "s3cret" not in text and "admin" not in text
    assert detail["stream_url"] == "rtsp://10.0.0.5:554/stream1"
    assert detail["has_stream_credentials"] is True
    camera = Camera.objects.get()
    assert camera.stream_url_with_credentials() == "rtsp://admin:s3cret@10.0.0.5:554/stream1"


def test_anonymous_gets_401_and_no_data(api_client, camera):
    response = api_client.get(URL)
    assert response.status_code == 401
    assert camera.slug not in response.content.decode()


def test_viewer_reads_but_cannot_write(viewer_client, camera):
    assert viewer_client.get(URL).status_code == 200
    response = viewer_client.post(URL, _payload(), format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert viewer_client.delete(f"{URL}{camera.id}/").status_code == 403
    assert Camera.objects.count() == 1


def test_device_key_cannot_reach_configuration(device_client, camera):
    assert device_client.get(URL).status_code == 403
    assert device_client.post(URL, _payload(), format="json").status_code == 403
    assert Camera.objects.count() == 1


def test_unknown_camera_is_a_json_404(operator_client):
    response = operator_client.get(f"{URL}999999/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_deleting_a_camera_with_sensor_settings_is_a_409(operator_client, camera):
    SensorSettings.objects.create(camera=camera)
    response = operator_client.delete(f"{URL}{camera.id}/")
    assert response.status_code == 409
    assert "sensor settings" in response.json()["detail"]
    assert Camera.objects.filter(pk=camera.pk).exists()
