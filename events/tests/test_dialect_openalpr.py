"""OpenALPR / Rekor agent posts, as the agent sends them: groups become events (percentages
scaled to 0..1, base64 crops stored as images), heartbeats mark the device and cameras seen,
per-frame results are stored only where a camera asks for them."""

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from cameras.models import Camera, EdgeDevice
from cameras.services import device_create, user_token_issue
from cameras.tests.factories import CameraFactory, SensorSettingsFactory
from core.logging import redact
from events.models import PlateEvent
from events.tests.images import media_files

pytestmark = pytest.mark.django_db

URL = "/api/ingest/openalpr/"
PAYLOADS = Path(__file__).parent / "payloads"


def sample(name: str):
    return json.loads((PAYLOADS / name).read_text("utf-8-sig"))


def without_placeholder_crops(document: dict) -> dict:
    """The documentation samples hold "...base64 jpeg data..." where a real agent sends the
    crops; that text is not base64, so it is removed (the only change) to ingest the rest."""
    document.pop("vehicle_crop_jpeg", None)
    document.get("best_plate", {}).pop("plate_crop_jpeg", None)
    for result in document.get("results", []):
        result.pop("plate_crop_jpeg", None)
    return document


@pytest.fixture
def agent():
    """(client, device) of an agent whose camera is number 1234 (the docs' camera_id)."""
    camera = CameraFactory(slug="depot-gate", external_id="1234")
    device, issued = device_create(name="alprd-1", cameras=[camera])
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=issued.key)
    return client, device


def test_documented_group_v2_is_one_event_with_scaled_confidences_and_vehicle(agent):
    client, device = agent

    response = client.post(
        URL, without_placeholder_crops(sample("openalpr_alpr_group.json")), format="json"
    )

    assert response.status_code == 201, response.json()
    event = PlateEvent.objects.get()
    assert (event.plate, event.source, event.device) == ("D2651BF", "openalpr", device)
    assert event.camera.external_id == "1234"
    assert event.idempotency_key == "YYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYY-1234-1562681122676"
    assert event.captured_at == datetime(2019, 7, 9, 14, 5, 21, 504000, tzinfo=UTC)
    assert event.confidence == pytest.approx(0.93877067565918)
    assert [c["plate"] for c in event.candidates] == ["D2651BF", "D2651F", "D265BF"]
    assert event.candidates[1]["confidence"] == pytest.approx(0.813600769042969)
    assert (event.country, event.region) == ("us", "us-mo")
    assert (event.vehicle_type, event.vehicle_type_raw) == ("car", "sedan-standard")
    assert event.vehicle_type_confidence == pytest.approx(0.511733474731445)
    assert (event.vehicle_make, event.vehicle_model) == ("ford", "focus")
    assert event.vehicle_make_confidence == pytest.approx(0.189258556365967)
    assert event.vehicle_model_confidence == pytest.approx(0.0364025783538818)
    assert (event.vehicle_color, event.vehicle_color_confidence) == (
        "black",
        pytest.approx(0.273192367553711),
    )
    assert event.heading == pytest.approx(85.5532836914062)
    assert event.plate_box == [3266, 187, 3485, 306]
    assert event.metadata["gps_latitude"] == pytest.approx(37.635986328125)
    assert event.metadata["vehicle_year"] == "2010-2014"


def test_the_verbatim_documentation_group_is_stored_without_its_placeholder_crops(agent, settings):
    """The documentation's crops are "...base64 jpeg data...": the read is stored, the
    pictures left out, and the result says which and why."""
    client, _ = agent

    response = client.post(URL, sample("openalpr_alpr_group.json"), format="json")

    assert response.status_code == 201, response.content
    [result] = response.json()["results"]
    assert result["status"] == "created"
    assert [w.split(":")[0] for w in result["warnings"]] == ["plate_image", "frame_image"]
    assert "best_plate.plate_crop_jpeg is not base64" in result["warnings"][0]
    assert "vehicle_crop_jpeg is not base64" in result["warnings"][1]
    event = PlateEvent.objects.get()
    assert event.plate == "D2651BF" and not event.plate_image and not event.frame_image
    assert media_files(settings.MEDIA_ROOT) == []


def test_a_crop_that_is_not_a_string_is_left_out_too(agent):
    client, _ = agent
    group = sample("openalpr_alpr_group.json")
    group["best_plate"]["plate_crop_jpeg"] = 12
    group["vehicle_crop_jpeg"] = None
    response = client.post(URL, group, format="json")
    assert response.status_code == 201, response.content
    [warning] = response.json()["results"][0]["warnings"]
    assert warning.startswith("plate_image: best_plate.plate_crop_jpeg is not base64")


def test_captured_agent_group_stores_its_base64_crops_and_a_resend_is_a_duplicate(settings):
    camera = CameraFactory(slug="mailbox-east", external_id="106232737")
    device, issued = device_create(name="home-agent", cameras=[camera])
    raw = (PAYLOADS / "openalpr_alpr_group_captured_agent_2.8.101.json").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the agent's byte-order mark, posted as is
    document = json.loads(raw.decode("utf-8-sig"))

    # the agent cannot set headers here: the key is in the upload_address path
    response = APIClient().post(f"{URL}{issued.key}/", raw, content_type="application/json")

    assert response.status_code == 201, response.json()
    event = PlateEvent.objects.get()
    assert event.camera == camera and event.device == device
    assert event.plate == "A424761"  # best_plate_number (best_plate.plate says TEST123)
    assert event.confidence == pytest.approx(0.9350499725341797)
    assert event.captured_at == datetime(2020, 12, 31, 16, 55, 31, 402000, tzinfo=UTC)
    assert (event.vehicle_type, event.vehicle_type_raw) == ("truck", "tractor-trailer")
    assert event.vehicle_make == "kenworth"
    assert event.vehicle_model == ""  # no kenworth among the make_model guesses
    assert (event.country, event.region) == ("us", "us-in")
    assert event.heading == pytest.approx(257.44775390625)
    assert event.metadata["camera_label"] == "mailbox-east"
    assert event.metadata["direction_of_travel_id"] == -1
    plate_crop = base64.b64decode(document["best_plate"]["plate_crop_jpeg"])
    vehicle_crop = base64.b64decode(document["vehicle_crop_jpeg"] + "==")  # sent unpadded
    assert event.plate_image.read() == plate_crop
    assert event.frame_image.read() == vehicle_crop

    again = APIClient().post(f"{URL}{issued.key}/", raw, content_type="application/json")
    assert again.status_code == 200
    assert again.json()["results"] == [
        {"index": 0, "status": "duplicate", "id": str(event.pk), "warnings": []}
    ]
    assert PlateEvent.objects.count() == 1
    assert len(media_files(settings.MEDIA_ROOT)) == 2


def test_the_key_in_an_ingest_path_is_masked_in_logs():
    key = "anprd_" + "k" * 43
    for vendor in ("openalpr", "platerecognizer", "frigate"):
        line = redact(f"Bad Request: /api/ingest/{vendor}/{key}/")
        assert key not in line and f"/api/ingest/{vendor}/" in line


def test_group_version_1(agent):
    client, _ = agent
    Camera.objects.filter(external_id="1234").update(external_id="1414799424")

    response = client.post(URL, sample("openalpr_alpr_group_v1_2017.json"), format="json")

    assert response.status_code == 201, response.json()
    event = PlateEvent.objects.get()
    assert event.plate == "A13709" and event.confidence == pytest.approx(0.92075203)
    assert event.captured_at == datetime(2015, 11, 24, 0, 50, 8, 789000, tzinfo=UTC)
    assert event.idempotency_key == "dimitar-video-cam1414799424-1448326208789"
    assert (event.country, event.region) == ("", "mo")
    assert len(event.candidates) == 10
    assert event.candidates[1] == {"plate": "A137O9", "confidence": pytest.approx(0.8332373)}
    assert event.metadata["site_id"] == "dimitar-video"


def test_alert_ingests_its_group_as_the_same_event_as_the_group(agent):
    client, _ = agent
    group = without_placeholder_crops(sample("openalpr_alpr_group.json"))
    # the envelope of rekor_alpr_alert.partial.txt (only part of it was published) around a group
    alert = {
        "camera_name": "yourcameraname",
        "plate_number": "D2651BF",
        "description": "Test",
        "site_name": "yoursitename",
        "data_type": "alpr_alert",
        "alert_list": "youralertlistname",
        "list_type": "Blacklist",
        "camera_number": 1234,
        "epoch_time": 1548715870757,
        "version": 1,
        "agent_uid": "TESTTESTTESTTESTTESTTESTTESTTESTTESTTEST",
        "group": group,
    }

    response = client.post(URL, alert, format="json")

    assert response.status_code == 201, response.json()
    event = PlateEvent.objects.get()
    assert event.plate == "D2651BF"
    assert (event.metadata["alert_list"], event.metadata["alert_list_type"]) == (
        "youralertlistname",
        "Blacklist",
    )
    assert client.post(URL, group, format="json").json()["results"][0]["status"] == "duplicate"
    assert PlateEvent.objects.count() == 1


def test_per_frame_results_are_ignored_unless_the_camera_asks_for_them(agent):
    client, _ = agent
    frame = without_placeholder_crops(sample("openalpr_alpr_results.json"))

    ignored = client.post(URL, frame, format="json")
    assert ignored.status_code == 200
    assert ignored.json()["results"] == []
    assert not PlateEvent.objects.exists()

    SensorSettingsFactory(
        camera=Camera.objects.get(external_id="1234"), extra={"openalpr_store_frame_results": True}
    )
    stored = client.post(URL, frame, format="json")
    assert stored.status_code == 201, stored.json()
    events = {e.plate: e for e in PlateEvent.objects.all()}
    assert set(events) == {"D2651BF", "CG3L5Y"}
    assert events["CG3L5Y"].confidence == pytest.approx(0.947376327514648)
    assert events["CG3L5Y"].captured_at == datetime(2019, 7, 9, 14, 13, 28, 425000, tzinfo=UTC)
    assert events["CG3L5Y"].plate_box == [1409, 882, 1744, 1055]


def test_heartbeat_marks_device_and_camera_seen_and_stores_no_event(agent):
    client, device = agent
    other = CameraFactory(external_id="9999")  # not named by the heartbeat
    device.cameras.add(other)

    response = client.post(URL, sample("openalpr_heartbeat.json"), format="json")

    assert response.status_code == 200, response.json()
    assert not PlateEvent.objects.exists()
    assert EdgeDevice.objects.get(pk=device.pk).last_seen_at is not None
    assert Camera.objects.get(external_id="1234").last_seen_at is not None
    assert Camera.objects.get(pk=other.pk).last_seen_at is None


def test_preview_groups_are_skipped(agent):
    client, _ = agent
    group = without_placeholder_crops(sample("openalpr_alpr_group.json"))
    group["is_preview"] = True

    response = client.post(URL, group, format="json")

    assert response.status_code == 200
    assert not PlateEvent.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"data_type": "alpr_something"}, "data_type"),
        ({"best_confidence": "high"}, "best_confidence"),
        ({"epoch_start": "yesterday"}, "epoch_start"),
    ],
)
def test_bad_groups_are_refused_naming_the_field(agent, change, field):
    client, _ = agent
    group = without_placeholder_crops(sample("openalpr_alpr_group.json"))
    group.update(change)

    response = client.post(URL, group, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not PlateEvent.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"camera_id": 4321}, "camera"),  # not a camera of this device
        ({"best_confidence": 9387}, "confidence"),  # 93.87 x 100: not a percentage
    ],
)
def test_a_group_our_rules_refuse_is_a_200_with_its_result_naming_the_field(agent, change, field):
    """The agent's document was read: the answer is its result, also when it is a refusal
    (the agent retries any other answer, and the read would be refused every time)."""
    client, _ = agent
    group = without_placeholder_crops(sample("openalpr_alpr_group.json"))
    group.update(change)

    response = client.post(URL, group, format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["created"], response.json()["rejected"]) == (0, 1)
    [result] = response.json()["results"]
    assert result["status"] == "rejected" and field in result["errors"], result
    assert not PlateEvent.objects.exists()


def test_a_user_is_not_an_agent(agent, operator):
    """A user's API token is no device key: 401."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {user_token_issue(user=operator, name='t').key}")
    response = client.post(URL, sample("openalpr_heartbeat.json"), format="json")
    assert response.status_code == 401


def test_a_crop_over_the_limit_rejects_its_read_and_a_body_over_it_is_a_413(settings):
    camera = CameraFactory(external_id="106232737")
    _, issued = device_create(name="home-agent", cameras=[camera])
    raw = (PAYLOADS / "openalpr_alpr_group_captured_agent_2.8.101.json").read_bytes()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issued.key}")

    settings.EVENT_IMAGE_MAX_BYTES = 4096  # the vehicle crop has 7 kB
    crop_too_large = client.post(URL, raw, content_type="application/json")
    assert crop_too_large.status_code == 200, crop_too_large.content
    [result] = crop_too_large.json()["results"]
    assert result["status"] == "rejected" and "frame_image" in result["errors"]

    settings.EVENT_UPLOAD_MAX_BYTES = 10_000  # the document has 19 kB
    body_too_large = client.post(URL, raw, content_type="application/json")
    assert body_too_large.status_code == 413

    assert not PlateEvent.objects.exists()
    assert media_files(settings.MEDIA_ROOT) == []
