"""The console shows events read-only, finds plates OCR-tolerantly and shows thumbnails."""

from django.test import Client

from events.reads import ImageIn, ReadIn
from events.services.ingest import plate_events_ingest

from .factories import PlateEventFactory
from .images import image_bytes

LIST = "/admin/events/plateevent/"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_plate_search_is_ocr_tolerant_and_shows_thumbnails(admin_user, device_with_key):
    device, _ = device_with_key
    [result] = plate_events_ingest(
        device=device,
        reads=[
            ReadIn(
                plate="BA8C123",
                captured_at="2026-11-20T10:00:00Z",
                plate_image=ImageIn(image_bytes()),
            )
        ],
    )
    PlateEventFactory(plate_raw="XYZ9876")
    page = _client(admin_user).get(LIST, {"q": "8ABC123"}).content.decode()
    assert "BA8C123" in page and "XYZ9876" not in page
    assert f"/api/events/{result.id}/images/plate/" in page
    detail = _client(admin_user).get(f"{LIST}{result.id}/change/")
    assert detail.status_code == 200


def test_events_cannot_be_added_or_edited_in_the_console(admin_user, operator):
    event = PlateEventFactory()
    assert _client(admin_user).get(f"{LIST}add/").status_code == 403
    response = _client(operator).post(f"{LIST}{event.pk}/change/", {"plate": "HACKED"})
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.plate != "HACKED"
