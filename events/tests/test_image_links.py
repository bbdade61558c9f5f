"""One event representation, and image links that open for whoever receives them: the REST
answer, the websocket frame and the exporter payload come from events.representation, and an
exporter's signed link opens the image without a session until it expires."""

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.files.storage import default_storage
from rest_framework.test import APIClient

from anpr.asgi import application
from cameras.services import device_create, user_token_issue
from cameras.tests.factories import CameraFactory, ZoneFactory
from events import representation
from events.models import PlateEvent
from events.reads import ImageIn, ReadIn
from events.services.ingest import plate_events_ingest
from exporters.payloads import EXPORT_OMITTED, delivery_body, event_payload

from .images import image_bytes

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BASE = "https://anpr.example.com"


@pytest.fixture
def public_base(settings):
    settings.PUBLIC_BASE_URL = BASE
    settings.EXPORTER_IMAGE_LINK_SECONDS = 600


def _stored_event(device, *, plate="AB12CDE", **read) -> PlateEvent:
    read.setdefault("captured_at", T0)
    [result] = plate_events_ingest(device=device, reads=[ReadIn(plate=plate, **read)])
    return PlateEvent.objects.select_related("camera", "zone").get(pk=result.id)


def _open(link: str):
    """GET a link as a receiver would: no session, no token."""
    assert link.startswith(f"{BASE}/api/event-images/")
    return APIClient().get(link.removeprefix(BASE))


@pytest.mark.django_db
def test_an_exporter_link_opens_the_image_without_a_session(device_with_key, public_base):
    device, _ = device_with_key
    event = _stored_event(device, plate_image=ImageIn(image_bytes("PNG")))
    payload = event_payload(event)

    assert payload["frame_image"] is None  # no frame stored: no link
    response = _open(payload["plate_image"])
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == image_bytes("PNG")
    assert response["Cache-Control"] == "no-store"  # not kept past the link's life
    # The API's own image URL still wants a signed-in viewer.
    assert APIClient().get(f"/api/events/{event.id}/images/plate/").status_code in (401, 403)


@pytest.mark.django_db
def test_an_expired_link_is_refused(device_with_key, public_base, monkeypatch):
    device, _ = device_with_key
    event = _stored_event(device, plate_image=ImageIn(image_bytes()))
    made_at = time.time() - 601  # EXPORTER_IMAGE_LINK_SECONDS is 600
    with monkeypatch.context() as then:
        then.setattr(time, "time", lambda: made_at)
        expired = event_payload(event)["plate_image"]
    fresh = event_payload(event)["plate_image"]

    assert _open(expired).status_code == 403
    assert _open(fresh).status_code == 200


@pytest.mark.django_db
def test_an_altered_link_or_one_signed_with_another_key_is_refused(
    device_with_key, public_base, settings
):
    device, _ = device_with_key
    event = _stored_event(
        device, plate_image=ImageIn(image_bytes()), frame_image=ImageIn(image_bytes())
    )
    other = _stored_event(device, event_id="2", plate_image=ImageIn(image_bytes()))
    link = event_payload(event)["plate_image"]
    assert _open(link).status_code == 200

    altered = [
        link.replace(str(event.id), str(other.id)),  # another event, same signature
        link.replace(".plate:", ".frame:"),  # another image of the same event
        link[:-3] + "/",  # a shortened signature
        f"{BASE}/api/event-images/{event.id}.plate/",  # no signature at all
    ]
    for tampered in altered:
        assert tampered != link
        response = _open(tampered)
        assert response.status_code == 403, tampered
        assert "not valid or has expired" in response.json()["detail"]

    settings.SECRET_KEY = "another-secret-key-" * 3
    assert _open(link).status_code == 403


@pytest.mark.django_db
def test_a_link_to_an_image_removed_since_answers_404(device_with_key, public_base):
    device, _ = device_with_key
    event = _stored_event(device, plate_image=ImageIn(image_bytes()))
    link = event_payload(event)["plate_image"]
    default_storage.delete(event.plate_image.name)  # as image retention does
    assert _open(link).status_code == 404
    PlateEvent.objects.filter(pk=event.pk).delete()
    assert _open(link).status_code == 404


@pytest.mark.django_db
def test_without_a_public_base_url_exporters_get_no_link(device_with_key, settings):
    settings.PUBLIC_BASE_URL = ""
    device, _ = device_with_key
    event = _stored_event(device, plate_image=ImageIn(image_bytes()))
    payload = event_payload(event)
    assert payload["plate_image"] is None and payload["frame_image"] is None


@pytest.mark.django_db
def test_the_exporter_payload_keeps_its_documented_fields(device_with_key, public_base):
    """The fields receivers had before one representation, with the same values; the image
    links changed (signed, absolute) and fields were added beside them."""
    device, _ = device_with_key
    camera = device.cameras.get()
    zone = ZoneFactory(camera=camera, name="Lane")
    event = _stored_event(
        device,
        captured_at=datetime(2026, 11, 20, 13, 0, 0, 120000, tzinfo=ZoneInfo("Europe/Paris")),
        plate="ab12 cde",
        confidence=0.9,
        candidates=[{"plate": "AB12C0E", "confidence": 0.4}],
        country="GB",
        zone="Lane",
        vehicle_type="car",
        vehicle_color="silver",
        direction="in",
        heading=90.0,
        speed_kmh=31.5,
        metadata={"lane": 1},
        plate_image=ImageIn(image_bytes()),
    )
    payload = event_payload(event)

    assert {
        key: payload[key]
        for key in (
            "id",
            "plate",
            "plate_raw",
            "confidence",
            "candidates",
            "country",
            "region",
            "captured_at",
            "received_at",
            "camera",
            "zone",
            "direction",
            "heading",
            "speed_kmh",
            "source",
        )
    } == {
        "id": str(event.id),
        "plate": "AB12CDE",
        "plate_raw": "ab12 cde",
        "confidence": 0.9,
        "candidates": [{"plate": "AB12C0E", "confidence": 0.4}],
        "country": "GB",
        "region": "",
        "captured_at": "2026-11-20T12:00:00.120000+00:00",  # UTC, written +00:00 as before
        "received_at": event.received_at.astimezone(UTC).isoformat(),
        "camera": {"id": camera.id, "slug": camera.slug, "name": camera.name},
        "zone": {"id": zone.id, "name": "Lane"},
        "direction": "in",
        "heading": 90.0,
        "speed_kmh": 31.5,
        "source": "native",
    }
    vehicle = payload["vehicle"]
    assert (vehicle["type"], vehicle["color"], vehicle["make"], vehicle["model"]) == (
        "car",
        "silver",
        "",
        "",
    )
    assert payload["plate_image"].startswith(f"{BASE}/api/event-images/")
    assert not EXPORT_OMITTED & payload.keys()  # our device id, search key, device extras
    assert "idempotency_key" not in payload

    unzoned = _stored_event(device, event_id="2")
    assert event_payload(unzoned)["zone"] is None


@pytest.mark.django_db(transaction=True)
def test_a_field_added_to_the_representation_appears_in_all_three_shapes(
    viewer, public_base, monkeypatch
):
    """REST (one event and a page), the websocket frame and the exporter payload are all
    made from representation.plate_event_document."""
    made = representation.plate_event_document

    def with_a_new_field(**arguments):
        return {**made(**arguments), "lane_guess": "left"}

    monkeypatch.setattr(representation, "plate_event_document", with_a_new_field)
    camera = CameraFactory(slug="gate")
    device, _ = device_create(name="edge-1", cameras=[camera])
    token = user_token_issue(user=viewer, name="script").key
    api = APIClient()
    api.force_authenticate(viewer)

    async def scenario():
        stream = WebsocketCommunicator(
            application,
            "/ws/events/",
            headers=[(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())],
        )
        assert (await stream.connect(timeout=5))[0]
        [result] = await database_sync_to_async(plate_events_ingest)(
            device=device, reads=[ReadIn(plate="AB12CDE", captured_at=T0, camera="gate")]
        )
        frame = await stream.receive_json_from(timeout=5)
        await stream.disconnect()
        return result, frame

    result, frame = async_to_sync(scenario)()
    assert frame["type"] == "event.created" and frame["event"]["lane_guess"] == "left"
    assert api.get(f"/api/events/{result.id}/").json()["lane_guess"] == "left"
    assert api.get("/api/events/").json()["results"][0]["lane_guess"] == "left"
    event = PlateEvent.objects.select_related("camera", "zone").get(pk=result.id)
    assert event_payload(event)["lane_guess"] == "left"


@pytest.mark.django_db
def test_rest_and_exporter_differ_only_where_documented(device_with_key, public_base):
    """Every field of the document reaches receivers, under its name or grouped, except the
    declared EXPORT_OMITTED."""
    device, _ = device_with_key
    ZoneFactory(camera=device.cameras.get(), name="Lane")
    event = _stored_event(device, zone="Lane", vehicle_make="Volvo")
    document = representation.plate_event_document(
        event=event, image_link=lambda **_: None, datetime_text=str
    )
    payload = event_payload(event)
    grouped = {"camera": "camera", "camera_slug": "camera", "camera_name": "camera"}
    grouped |= {"zone": "zone", "zone_name": "zone"}
    grouped |= {"plate_image_url": "plate_image", "frame_image_url": "frame_image"}
    for name in document.keys() - EXPORT_OMITTED:
        where = grouped.get(name) or ("vehicle" if name.startswith("vehicle_") else name)
        assert where in payload, name
    assert payload["vehicle"]["make"] == "Volvo"
    body = delivery_body(delivery_id="d-1", exporter_name="x", events=[event])
    assert b'"make":"Volvo"' in body
