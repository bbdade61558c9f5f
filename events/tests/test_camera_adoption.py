"""Devices that adopt cameras: an unknown vendor camera id creates an inactive camera without a
position (for an operator to place) and the read is stored; a vendor camera id is unique per
device, so two Frigates may both have `front`; devices without the setting are refused as
before."""

import copy
import json
import threading
from pathlib import Path

import pytest
from django.db import connection, connections
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from cameras.models import Camera, EdgeDevice
from cameras.services import device_create
from cameras.tests.factories import CameraFactory, ZoneFactory
from conftest import require_service
from events.models import PlateEvent

FRIGATE = "/api/ingest/frigate/"
NATIVE = "/api/events/ingest/"
PAYLOADS = Path(__file__).parent / "payloads"


def frigate_message(camera: str, object_id: str = "1607123955.475377-mxklsc") -> dict:
    """The documented `frigate/events` message, its object on `camera` with a plate read."""
    message = json.loads((PAYLOADS / "frigate_event.json").read_text("utf-8"))
    message = copy.deepcopy(message)
    message["after"].update(
        camera=camera, id=object_id, recognized_license_plate="AB12CDE", start_time=1.7e9
    )
    message["after"]["recognized_license_plate_score"] = 0.9
    return message


def client_of(device_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {device_key}")
    return client


def frigate(name: str, *, adopts: bool = True, cameras=()):
    device, issued = device_create(name=name, cameras=cameras, adopts_cameras=adopts)
    return device, client_of(issued.key)


def native_read(camera: str, **fields) -> dict:
    return {"camera": camera, "plate": "AB12CDE", "captured_at": timezone.now().isoformat()} | (
        fields
    )


@pytest.mark.django_db
def test_an_unknown_camera_of_an_adopting_device_is_created_inactive_and_its_read_stored():
    device, client = frigate("frigate-garage")

    response = client.post(FRIGATE, frigate_message("front"), format="json")

    assert response.status_code == 201, response.content
    [result] = response.json()["results"]
    assert result["status"] == "created"
    camera = device.cameras.get()
    assert (camera.name, camera.external_id, camera.status) == ("front", "front", "inactive")
    assert camera.latitude is None and camera.longitude is None
    assert "frigate-garage" in camera.description
    assert PlateEvent.objects.get(pk=result["id"]).camera == camera
    # the next read of the camera finds it: no second camera
    again = client.post(FRIGATE, frigate_message("front", "1607124000.1-abcdef"), format="json")
    assert again.status_code == 201 and Camera.objects.count() == 1
    assert PlateEvent.objects.filter(camera=camera).count() == 2


@pytest.mark.django_db
def test_two_devices_each_with_front_get_a_camera_each():
    first, first_client = frigate("frigate-a")
    second, second_client = frigate("frigate-b")

    for client in (first_client, second_client):
        response = client.post(FRIGATE, frigate_message("front"), format="json")
        assert response.status_code == 201, response.content

    front_a, front_b = first.cameras.get(), second.cameras.get()
    assert front_a != front_b and front_a.external_id == front_b.external_id == "front"
    assert {e.camera for e in PlateEvent.objects.filter(device=first)} == {front_a}
    assert {e.camera for e in PlateEvent.objects.filter(device=second)} == {front_b}


@pytest.mark.django_db
def test_cameras_configured_by_hand_may_share_a_vendor_id_across_devices_not_within_one(
    operator_client,
):
    front_a = CameraFactory(external_id="front")
    front_b = CameraFactory(external_id="front")  # was refused: external_id was unique
    device_create(name="frigate-a", cameras=[front_a])
    device_create(name="frigate-b", cameras=[front_b])

    both = operator_client.post(
        "/api/devices/", {"name": "both", "cameras": [front_a.pk, front_b.pk]}, format="json"
    )
    assert both.status_code == 400
    assert "front" in both.json()["errors"]["cameras"][0]
    # a camera renamed to a vendor id a sibling on its device already has is refused too
    sibling = CameraFactory(external_id="back")
    EdgeDevice.objects.get(name="frigate-a").cameras.add(sibling)
    renamed = operator_client.patch(
        f"/api/cameras/{sibling.pk}/", {"external_id": "front"}, format="json"
    )
    assert renamed.status_code == 400
    assert "external_id" in renamed.json()["errors"]


@pytest.mark.django_db
def test_a_device_without_the_setting_is_refused_naming_the_camera():
    device, client = frigate("frigate-strict", adopts=False, cameras=[CameraFactory()])

    response = client.post(FRIGATE, frigate_message("front"), format="json")

    assert response.status_code == 200
    [result] = response.json()["results"]
    assert result["errors"] == {"camera": ["No camera 'front' among this device's cameras."]}
    assert device.cameras.count() == 1 and not PlateEvent.objects.exists()


@pytest.mark.django_db
def test_a_read_refused_for_another_reason_adopts_nothing(operator_client):
    device, client = frigate("frigate-garage")
    response = client.post(NATIVE, native_read("front", plate="--"), format="json")
    assert response.status_code == 400 and "plate" in response.json()["errors"]
    assert not device.cameras.exists()
    too_long = client.post(NATIVE, native_read("x" * 129), format="json")
    assert "at most 128 characters" in too_long.json()["errors"]["camera"][0]
    for unprintable in ("a\x00b", " ", "line\nbreak"):
        response = client.post(NATIVE, native_read(unprintable), format="json")
        assert response.status_code == 400, response.content
        assert "must be printable text" in response.json()["errors"]["camera"][0]
    assert not Camera.objects.exists()


@pytest.mark.django_db
def test_a_zone_on_an_adopted_camera_is_refused_until_an_operator_adds_it():
    device, client = frigate("gate-box")
    refused = client.post(NATIVE, native_read("lane-1", zone="Entry"), format="json")
    assert refused.status_code == 400
    assert "has no zone 'Entry'" in refused.json()["errors"]["zone"][0]
    camera = device.cameras.get()  # adopted all the same, for the operator to set up
    ZoneFactory(camera=camera, name="Entry")
    stored = client.post(NATIVE, native_read("lane-1", zone="Entry"), format="json")
    assert stored.status_code == 201, stored.content


@pytest.mark.django_db
def test_operators_switch_adoption_on_viewers_may_not(operator_client, viewer_client, api_client):
    device, _ = frigate("frigate-garage", adopts=False)
    url = f"/api/devices/{device.pk}/"
    assert viewer_client.get(url).json()["adopts_cameras"] is False
    assert viewer_client.patch(url, {"adopts_cameras": True}, format="json").status_code == 403
    assert api_client.patch(url, {"adopts_cameras": True}, format="json").status_code == 401
    assert operator_client.patch(url, {"adopts_cameras": True}, format="json").status_code == 200
    device.refresh_from_db()
    assert device.adopts_cameras
    created = operator_client.post(
        "/api/devices/", {"name": "new-box", "adopts_cameras": True}, format="json"
    )
    assert created.status_code == 201 and created.json()["adopts_cameras"] is True


@pytest.mark.django_db
def test_the_admin_switches_adoption_and_refuses_one_vendor_id_twice_on_a_device(operator):
    console = Client()
    console.force_login(operator)
    front_a, front_b = CameraFactory(external_id="front"), CameraFactory(external_id="front")
    page = console.get("/admin/cameras/edgedevice/add/")
    data = {
        f"{inline.formset.management_form.add_prefix(name)}": value
        for inline in page.context["inline_admin_formsets"]
        for name, value in inline.formset.management_form.initial.items()
    }
    data.update({"name": "frigate-a", "is_active": "on", "adopts_cameras": "on", "notes": ""})

    refused = console.post(
        "/admin/cameras/edgedevice/add/", {**data, "cameras": [front_a.pk, front_b.pk]}
    )
    assert refused.status_code == 200
    assert "both have the vendor id" in str(refused.context["adminform"].form.errors["cameras"])

    saved = console.post("/admin/cameras/edgedevice/add/", {**data, "cameras": [front_a.pk]})
    assert saved.status_code == 302
    assert EdgeDevice.objects.get(name="frigate-a").adopts_cameras


@pytest.mark.django_db(transaction=True)
def test_two_first_reads_of_a_new_camera_at_once_make_one_camera_and_no_500():
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "concurrent transactions are tested on PostgreSQL")
    _, issued = device_create(name="frigate-race", adopts_cameras=True)
    for round_number in range(4):
        ref = f"cam-{round_number}"
        barrier = threading.Barrier(2)
        answers: list = [None, None]

        def post(position, ref=ref, barrier=barrier, answers=answers):
            try:
                barrier.wait(timeout=10)
                body = native_read(ref, event_id=f"{ref}-{position}")
                answers[position] = client_of(issued.key).post(NATIVE, body, format="json")
            except Exception as error:  # noqa: BLE001 - reported by the test
                answers[position] = error
            finally:
                connections.close_all()

        threads = [threading.Thread(target=post, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses = [getattr(answer, "status_code", repr(answer)) for answer in answers]
        assert statuses == [201, 201], (round_number, statuses)
        assert Camera.objects.filter(external_id=ref).count() == 1
        assert PlateEvent.objects.filter(camera__external_id=ref).count() == 2
