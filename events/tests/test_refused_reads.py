"""A device's refused reads, kept for its admin page (no edge agent shows them to anyone): the
newest 50 per device with their reasons, written only when something is refused, never the
images, shown read-only to whoever may view devices, purged with retention."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from cameras.models import REFUSED_READS_KEPT, RefusedRead
from cameras.services import device_create
from cameras.tests.factories import CameraFactory
from events.models import PlateEvent
from events.reads import ImageIn, ReadIn
from events.services.ingest import plate_events_ingest
from events.services.retention import events_purge
from events.tests.images import image_bytes

pytestmark = pytest.mark.django_db

NATIVE = "/api/events/ingest/"


def read(**fields) -> ReadIn:
    return ReadIn(**({"plate": "AB12CDE", "captured_at": timezone.now()} | fields))


def test_a_refused_read_is_kept_with_its_reasons_and_an_accepted_one_is_not(device_client):
    device_client.post(NATIVE, {"plate": "AB12CDE", "captured_at": timezone.now().isoformat()})
    assert not RefusedRead.objects.exists()  # nothing written on the accepted path

    response = device_client.post(
        NATIVE,
        {"camera": "north", "plate": "X Y", "captured_at": "2026-13-01", "confidence": 7},
        format="json",
    )

    assert response.status_code == 400
    refused = RefusedRead.objects.get()
    assert (refused.camera, refused.plate, refused.captured_at, refused.source) == (
        "north",
        "X Y",
        "2026-13-01",
        "native",
    )
    assert set(refused.errors) == {"camera", "captured_at", "confidence"}
    assert refused.errors == response.json()["errors"]


def test_a_body_refused_whole_is_kept_too(device_client, device_with_key):
    device, _ = device_with_key
    device_client.post("/api/ingest/openalpr/", {"data_type": "nonsense"}, format="json")
    device_client.post(NATIVE, b"{not json", content_type="application/json")
    device_client.post(NATIVE, {"a\x00b": SimpleUploadedFile("f.jpg", b"x")})  # NUL in a key

    multipart, bad_json, vendor = RefusedRead.objects.filter(device=device)
    assert vendor.source == "openalpr" and "data_type" in vendor.errors
    assert bad_json.source == "native" and "Not valid JSON" in bad_json.errors["body"][0]
    assert list(multipart.errors) == ["ab"]


def test_only_the_newest_50_per_device_are_kept(device_with_key):
    device, _ = device_with_key
    other, _ = device_create(name="other-box", cameras=[CameraFactory()])
    plate_events_ingest(device=other, reads=[read(plate="")])
    for batch in range(3):
        plate_events_ingest(
            device=device, reads=[read(plate=f"P{batch}-{n}", captured_at="") for n in range(30)]
        )

    kept = list(RefusedRead.objects.filter(device=device))  # newest first
    assert len(kept) == REFUSED_READS_KEPT
    assert kept[0].plate == "P2-29" and kept[-1].plate == "P1-10"
    assert RefusedRead.objects.filter(device=other).count() == 1


def test_images_are_not_kept_and_a_refused_read_stores_no_event(device_with_key):
    device, _ = device_with_key
    [result] = plate_events_ingest(
        device=device, reads=[read(plate="", plate_image=ImageIn(image_bytes()))]
    )
    assert result.status == "rejected"
    assert not PlateEvent.objects.exists()
    refused = RefusedRead.objects.get()
    assert "image" not in str(refused.errors) and refused.plate == ""


def test_retention_purges_them(device_with_key, settings):
    device, _ = device_with_key
    settings.EVENT_RETENTION_DAYS = 30
    plate_events_ingest(
        device=device, reads=[read(plate="old", zone="no"), read(plate="new", zone="no")]
    )
    RefusedRead.objects.filter(plate="old").update(refused_at=timezone.now() - timedelta(days=31))
    result = events_purge()
    assert result.refused_reads_deleted == 1
    assert list(RefusedRead.objects.values_list("plate", flat=True)) == ["new"]


@pytest.fixture
def refused_on_page(device_with_key):
    device, _ = device_with_key
    plate_events_ingest(device=device, reads=[read(plate="--", camera="nowhere")])
    return f"/admin/cameras/edgedevice/{device.pk}/change/"


@pytest.mark.parametrize("role", ["staff_viewer", "operator", "admin_user"])
def test_the_devices_admin_page_shows_them_read_only(role, request, refused_on_page):
    client = Client()
    client.force_login(request.getfixturevalue(role))
    page = client.get(refused_on_page)
    assert page.status_code == 200
    body = page.content.decode()
    assert "Last refused reads (newest first)" in body
    assert "No camera &#x27;nowhere&#x27; among this device&#x27;s cameras." in body
    assert "refused_reads-0-DELETE" not in body and "refused_reads-0-plate" not in body


def test_anonymous_users_and_viewers_without_the_console_are_sent_to_sign_in(
    viewer, refused_on_page
):
    signed_in = Client()
    signed_in.force_login(viewer)  # a viewer who is not staff
    for client in (Client(), signed_in):
        response = client.get(refused_on_page)
        assert response.status_code == 302 and "/login/" in response["Location"]
