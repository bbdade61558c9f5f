"""Zones over the API: CRUD, filters, geometry refusals, zones nested in the camera read."""

import pytest

from cameras.models import Zone
from cameras.tests.factories import CameraFactory, ZoneFactory, square

pytestmark = pytest.mark.django_db

URL = "/api/zones/"


def _payload(camera, **overrides):
    body = {"camera": camera.id, "name": "Gate lane", "kind": "entry", "geometry": square()}
    body.update(overrides)
    return body


def test_operator_creates_reads_updates_and_deletes_a_zone(operator_client, camera):
    roi = {"type": "Polygon", "coordinates": [[[0.1, 0.5], [0.9, 0.5], [0.9, 1], [0.1, 0.5]]]}
    created = operator_client.post(URL, _payload(camera, roi=roi), format="json")
    assert created.status_code == 201, created.json()
    zone_id = created.json()["id"]

    detail = operator_client.get(f"{URL}{zone_id}/").json()
    assert detail["camera"] == camera.id
    assert detail["geometry"] == square() and detail["roi"] == roi

    multi = {"type": "MultiPolygon", "coordinates": [square()["coordinates"]]}
    patched = operator_client.patch(
        f"{URL}{zone_id}/", {"kind": "exit", "geometry": multi}, format="json"
    )
    assert patched.status_code == 200, patched.json()
    assert Zone.objects.get().geometry["type"] == "MultiPolygon"
    assert Zone.objects.get().kind == "exit"

    assert operator_client.delete(f"{URL}{zone_id}/").status_code == 204
    assert not Zone.objects.exists()


def test_filters_by_camera_kind_and_enabled(operator_client):
    north, south = CameraFactory(), CameraFactory()
    ZoneFactory(camera=north, name="n-entry", kind="entry")
    ZoneFactory(camera=north, name="n-park", kind="parking", enabled=False)
    ZoneFactory(camera=south, name="s-entry", kind="entry")

    def names(**params):
        return {z["name"] for z in operator_client.get(URL, params).json()["results"]}

    assert names(camera=north.id) == {"n-entry", "n-park"}
    assert names(camera_slug=south.slug) == {"s-entry"}
    assert names(kind="entry") == {"n-entry", "s-entry"}
    assert names(enabled="false") == {"n-park"}
    assert names(camera=north.id, enabled="true") == {"n-entry"}


UNCLOSED = {
    "type": "Polygon",
    "coordinates": [[[-0.128, 51.507], [-0.127, 51.507], [-0.127, 51.508], [-0.128, 51.508]]],
}


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        (UNCLOSED, "polygon ring 0 is not closed: its first and last positions differ."),
        (
            {"type": "Point", "coordinates": [-0.128, 51.507]},
            "Geometry type 'Point' is not allowed; use Polygon or MultiPolygon.",
        ),
        (
            square(lon=200),
            "polygon ring 0: longitude 200 is out of range (-180..180).",
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]},
            "polygon ring 0 has 3 positions; a linear ring needs at least 4.",
        ),
        ('{"type": "Polygon"}', "Geometry must be a GeoJSON object."),
    ],
)
def test_bad_geometry_is_refused_naming_the_field_and_writes_nothing(
    operator_client, camera, geometry, message
):
    response = operator_client.post(URL, _payload(camera, geometry=geometry), format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["errors"] == {"geometry": [message]}
    assert not Zone.objects.exists()


def test_roi_outside_the_picture_is_refused(operator_client, camera):
    roi = {"type": "Polygon", "coordinates": [[[0, 0], [1.5, 0], [1, 1], [0, 0]]]}
    response = operator_client.post(URL, _payload(camera, roi=roi), format="json")
    assert response.status_code == 400
    assert "outside the image" in response.json()["errors"]["roi"][0]
    assert not Zone.objects.exists()


def test_bad_geometry_on_update_leaves_the_zone_as_it_was(operator_client):
    zone = ZoneFactory()
    response = operator_client.patch(f"{URL}{zone.id}/", {"geometry": UNCLOSED}, format="json")
    assert response.status_code == 400
    assert "geometry" in response.json()["errors"]
    zone.refresh_from_db()
    assert zone.geometry == square()


def test_zone_name_is_unique_per_camera(operator_client, camera):
    ZoneFactory(camera=camera, name="Gate lane")
    response = operator_client.post(URL, _payload(camera), format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"name": ["This camera already has a zone with this name."]}
    # Another camera may use the name.
    other = CameraFactory()
    assert operator_client.post(URL, _payload(other), format="json").status_code == 201
    assert Zone.objects.count() == 2


def test_unknown_camera_is_refused_naming_the_field(operator_client):
    response = operator_client.post(
        URL, {**_payload(CameraFactory()), "camera": 999999}, format="json"
    )
    assert response.status_code == 400
    assert "camera" in response.json()["errors"]


def test_camera_read_nests_its_zones(operator_client, camera):
    ZoneFactory(camera=camera, name="a", kind="entry")
    ZoneFactory(camera=camera, name="b", kind="exit", enabled=False)
    ZoneFactory(name="elsewhere")

    detail = operator_client.get(f"/api/cameras/{camera.id}/").json()
    assert [(z["name"], z["kind"], z["enabled"]) for z in detail["zones"]] == [
        ("a", "entry", True),
        ("b", "exit", False),
    ]
    assert detail["zones"][0]["geometry"] == square()
    listed = operator_client.get("/api/cameras/", {"slug": camera.slug}).json()["results"]
    assert [z["name"] for z in listed[0]["zones"]] == ["a", "b"]


def test_zones_sent_to_the_camera_endpoint_are_ignored(operator_client, camera):
    response = operator_client.patch(
        f"/api/cameras/{camera.id}/", {"zones": [{"name": "x"}], "name": "Renamed"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["zones"] == [] and not Zone.objects.exists()


def test_viewer_reads_but_cannot_write(viewer_client, camera):
    zone = ZoneFactory(camera=camera)
    assert viewer_client.get(URL).json()["count"] == 1
    response = viewer_client.post(URL, _payload(camera, name="new"), format="json")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert viewer_client.patch(f"{URL}{zone.id}/", {"name": "x"}).status_code == 403
    assert viewer_client.delete(f"{URL}{zone.id}/").status_code == 403
    assert list(Zone.objects.values_list("name", flat=True)) == [zone.name]


def test_device_key_cannot_write_zones(device_client, camera):
    response = device_client.post(URL, _payload(camera), format="json")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert device_client.get(URL).status_code == 403
    assert not Zone.objects.exists()


def test_anonymous_is_refused(api_client, camera):
    ZoneFactory(camera=camera)
    response = api_client.get(URL)
    assert response.status_code == 401 and "results" not in response.json()


def test_unknown_zone_is_a_json_404(operator_client):
    response = operator_client.get(f"{URL}999999/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}
