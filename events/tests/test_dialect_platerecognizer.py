"""Plate Recognizer's own documents, posted as Stream and Snapshot send them, become events
with the vendor's fields where the native API puts them."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from cameras.services import device_create, device_key_revoke
from cameras.tests.factories import CameraFactory
from events.models import PlateEvent
from events.tests.images import image_bytes, media_files

pytestmark = pytest.mark.django_db

URL = "/api/ingest/platerecognizer/"
PAYLOADS = Path(__file__).parent / "payloads"


def sample(name: str):
    return json.loads((PAYLOADS / name).read_text("utf-8-sig"))


def device_client(*cameras, name="stream-box"):
    device, issued = device_create(name=name, cameras=cameras)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issued.key}")  # as Stream sends it
    return client, device, issued


@pytest.fixture
def camera_1():
    """The camera the Stream samples call `camera-1`."""
    return CameraFactory(slug="loading-bay", external_id="camera-1")


def test_stream_webhook_as_json_is_one_event_with_the_vendor_fields(camera_1):
    client, device, _ = device_client(camera_1)

    response = client.post(URL, sample("platerecognizer_stream_webhook.json"), format="json")

    assert response.status_code == 201, response.json()
    [result] = response.json()["results"]
    assert result["status"] == "created"
    event = PlateEvent.objects.get()
    assert str(event.pk) == result["id"]
    assert (event.plate_raw, event.plate, event.source) == ("9jub11", "9JUB11", "platerecognizer")
    assert event.captured_at == datetime(2021, 9, 29, 5, 56, 13, 606935, tzinfo=UTC)
    assert event.confidence == 0.839
    assert event.camera == camera_1 and event.device == device
    assert (event.vehicle_type, event.vehicle_type_raw) == ("truck", "Big Truck")
    assert event.vehicle_type_confidence == 0.267
    assert (event.country, event.region) == ("gb", "")
    assert [c["plate"] for c in event.candidates] == ["9jub11", "sju88y", "sjubi"]
    assert event.plate_box == [460, 57, 557, 82]
    assert event.heading is None  # Stream sent direction "" (unknown)
    assert event.metadata["detection_score"] == 0.441
    assert event.metadata["hook_event"] == "recognition"


def test_stream_webhook_as_multipart_stores_the_upload_and_a_resend_is_not_a_second_event(
    camera_1, settings
):
    client, _, _ = device_client(camera_1)
    document = json.dumps(sample("platerecognizer_stream_webhook.json"))
    frame = image_bytes("JPEG", (320, 200))

    def post():
        return client.post(
            URL,
            {"json": document, "upload": _file(frame, "05-56-13.606935.jpg")},
            format="multipart",
        )

    first = post()
    assert first.status_code == 201, first.json()
    event = PlateEvent.objects.get()
    assert event.plate == "9JUB11" and event.camera == camera_1
    assert event.frame_image.name.startswith("events/loading-bay/2021/09/29/")
    assert event.frame_image.read() == frame

    again = post()  # Stream retries a webhook it thinks failed
    assert again.status_code == 200
    assert again.json()["results"] == [
        {"index": 0, "status": "duplicate", "id": str(event.pk), "warnings": []}
    ]
    assert PlateEvent.objects.count() == 1
    assert len(media_files(settings.MEDIA_ROOT)) == 1


def test_a_text_file_posing_as_the_upload_is_left_out_with_a_warning(camera_1, settings):
    client, _, _ = device_client(camera_1)
    document = json.dumps(sample("platerecognizer_stream_webhook.json"))

    response = client.post(
        URL, {"json": document, "upload": _file(b"not a picture", "frame.jpg")}, format="multipart"
    )

    assert response.status_code == 201, response.content
    [result] = response.json()["results"]
    assert result["status"] == "created"
    assert result["warnings"] == [
        "frame_image: not a JPEG, PNG or WebP image; the read was stored without it."
    ]
    assert not PlateEvent.objects.get().frame_image
    assert media_files(settings.MEDIA_ROOT) == []


def test_multipart_without_the_json_field_names_it(camera_1):
    client, _, _ = device_client(camera_1)
    response = client.post(URL, {"upload": _file(image_bytes(), "f.jpg")}, format="multipart")
    assert response.status_code == 400
    assert "json" in response.json()["errors"]


def test_snapshot_webhook_is_one_event_per_plate_on_the_devices_only_camera():
    camera = CameraFactory()
    client, _, _ = device_client(camera)

    response = client.post(URL, sample("platerecognizer_snapshot_webhook.json"), format="json")

    assert response.status_code == 201, response.json()
    assert [r["status"] for r in response.json()["results"]] == ["created", "created"]
    events = {e.plate: e for e in PlateEvent.objects.all()}
    assert set(events) == {"765410", "830265"}
    assert all(e.camera == camera for e in events.values())  # camera_id null: the only camera
    assert events["765410"].confidence == pytest.approx(0.9131534678711563)
    assert events["830265"].confidence == pytest.approx(0.7700640306685624)
    assert events["765410"].captured_at == datetime(2019, 8, 31, 14, 22, 6, 983000, tzinfo=UTC)
    assert events["765410"].vehicle_type == ""
    assert events["765410"].metadata["hook_event"] == "image.done"


def test_snapshot_response_with_make_model_and_colour():
    camera = CameraFactory()
    client, _, _ = device_client(camera)

    response = client.post(URL, sample("platerecognizer_snapshot_response.json"), format="json")

    assert response.status_code == 201, response.json()
    event = PlateEvent.objects.get()
    assert event.plate == "NHK552" and event.confidence == 0.904
    assert event.captured_at == datetime(2020, 10, 12, 16, 17, 27, 574008, tzinfo=UTC)
    assert (event.vehicle_type, event.vehicle_type_raw, event.vehicle_type_confidence) == (
        "car",
        "Sedan",
        0.798,
    )
    assert (event.vehicle_make, event.vehicle_model, event.vehicle_make_confidence) == (
        "Riley",
        "RMF",
        0.306,
    )
    assert (event.vehicle_color, event.vehicle_color_confidence) == ("black", 0.937)
    assert event.country == "gb"
    assert event.candidates == [{"plate": "nhk552", "confidence": 0.904}]
    assert event.metadata["orientation"] == "Front"


def test_snapshot_vehicle_mode_response_with_a_naive_time_read_as_utc():
    camera = CameraFactory(external_id="my-camera")
    client, _, _ = device_client(camera, CameraFactory())  # two cameras: camera_id decides

    response = client.post(
        URL, sample("platerecognizer_snapshot_response_vehicle_mode.json"), format="json"
    )

    assert response.status_code == 201, response.json()
    event = PlateEvent.objects.get()
    assert event.camera == camera
    assert event.captured_at == datetime(2021, 11, 23, 17, 56, 47, 896406, tzinfo=UTC)
    assert event.plate == "NHK552" and event.confidence == 0.838
    assert event.country == "gb"
    assert (event.vehicle_type, event.vehicle_type_confidence) == ("car", 0.834)
    assert (event.vehicle_make, event.vehicle_model, event.vehicle_model_confidence) == (
        "Riley",
        "RMF",
        0.339,
    )
    assert (event.vehicle_color, event.vehicle_color_confidence) == ("black", 0.846)
    assert event.metadata["detection_score"] == 0.925


def test_stream_version_2_output_with_direction_as_heading(camera_1):
    client, _, _ = device_client(camera_1)

    response = client.post(
        URL, sample("platerecognizer_stream_output_v2_vehicle_mode.json"), format="json"
    )

    assert response.status_code == 201, response.json()
    event = PlateEvent.objects.get()
    assert event.camera == camera_1 and event.plate == "HDB167A"
    assert event.captured_at == datetime(2021, 7, 31, 13, 53, 36, 169692, tzinfo=UTC)
    assert event.confidence == 0.908
    assert (event.country, event.region) == ("us", "us-pa")
    assert event.heading == 345
    assert (event.vehicle_make, event.vehicle_model) == ("Chrysler", "200")
    assert (event.vehicle_color, event.vehicle_color_confidence) == ("white", 0.887)
    assert event.plate_box == [49, 455, 116, 491]
    assert event.metadata["position_sec"] == 11.14


def test_a_vehicle_without_a_plate_stores_nothing(camera_1):
    client, _, _ = device_client(camera_1)
    document = sample("platerecognizer_stream_output_v2_vehicle_mode.json")
    document[0]["results"][0]["plate"] = None

    response = client.post(URL, document, format="json")

    assert response.status_code == 200
    assert response.json()["results"] == []
    assert not PlateEvent.objects.exists()


def test_a_camera_id_that_is_not_the_devices_is_refused_naming_the_camera(camera_1):
    CameraFactory(external_id="camera-9")  # exists, but belongs to no device of ours
    client, _, _ = device_client(camera_1)
    document = sample("platerecognizer_stream_webhook.json")
    document["data"]["camera_id"] = "camera-9"

    response = client.post(URL, document, format="json")

    assert response.status_code == 200, response.content
    [result] = response.json()["results"]
    assert result["status"] == "rejected"
    assert "camera-9" in result["errors"]["camera"][0]
    assert not PlateEvent.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b'{"unexpected": 1}', "body"),
        (
            b'{"data": {"timestamp": "2021-09-29T05:56:13Z", "results": [{"plate": "ab1", '
            b'"score": "high"}]}}',
            "data.results[0].score",
        ),
    ],
)
def test_bad_documents_are_refused_naming_the_field(camera_1, body, field):
    client, _, _ = device_client(camera_1)
    response = client.post(URL, body, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not PlateEvent.objects.exists()


@pytest.mark.parametrize(
    "timestamp",
    ["yesterday", "2100-01-01T00:00:00Z"],  # not a time; too far in the future
)
def test_reads_our_rules_refuse_are_a_200_with_one_result_each(camera_1, timestamp):
    """The document was read: the answer is one result per read, also when every read was
    rejected (the vendor retries any other answer, and would be refused every time)."""
    client, _, _ = device_client(camera_1)
    document = {"data": {"timestamp": timestamp, "results": [{"plate": "ab1"}, {"plate": "cd2"}]}}
    response = client.post(URL, document, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["created"], data["rejected"], data["detail"]) == (0, 2, "2 rejected")
    assert [(r["index"], r["status"]) for r in data["results"]] == [
        (0, "rejected"),
        (1, "rejected"),
    ]
    assert all("captured_at" in r["errors"] for r in data["results"])
    assert not PlateEvent.objects.exists()


def test_the_key_may_be_in_the_path_and_users_or_revoked_keys_are_refused(camera_1, viewer):
    _, _, issued = device_client(camera_1)
    document = sample("platerecognizer_stream_webhook.json")

    assert APIClient().post(URL, document, format="json").status_code == 401
    user = APIClient()
    user.force_login(viewer)  # a signed-in user is not a device
    assert user.post(URL, document, format="json").status_code == 401
    assert not PlateEvent.objects.exists()

    in_path = APIClient().post(f"{URL}{issued.key}/", document, format="json")
    assert in_path.status_code == 201
    device_key_revoke(key=issued.record)
    revoked = APIClient().post(f"{URL}{issued.key}/", document, format="json")
    assert revoked.status_code == 401
    assert PlateEvent.objects.count() == 1


def _file(content: bytes, name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="image/jpeg")


def test_an_upload_over_the_image_limit_is_413_with_no_row_and_no_file(camera_1, settings):
    settings.EVENT_IMAGE_MAX_BYTES = 2048
    client, _, _ = device_client(camera_1)
    document = json.dumps(sample("platerecognizer_stream_webhook.json"))
    frame = image_bytes("BMP", (64, 32))  # 6 kB
    assert len(frame) > 2048

    response = client.post(
        URL, {"json": document, "upload": _file(frame, "frame.bmp")}, format="multipart"
    )

    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert not PlateEvent.objects.exists()
    assert media_files(settings.MEDIA_ROOT) == []


def test_a_payload_with_more_reads_than_a_batch_allows_is_refused_whole(settings):
    settings.EVENT_BATCH_MAX_ITEMS = 1
    client, _, _ = device_client(CameraFactory())

    response = client.post(URL, sample("platerecognizer_snapshot_webhook.json"), format="json")

    assert response.status_code == 400  # two plates, one allowed
    assert response.json()["errors"] == {
        "non_field_errors": ["At most 1 reads per request (got 2)."]
    }
    assert not PlateEvent.objects.exists()
