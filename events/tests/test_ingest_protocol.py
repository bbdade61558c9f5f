"""The device-ingest protocol shared by the native and the vendor endpoints: the device key is
looked up once per request, whichever path serves it, and the view's declared authentication
and throttle are what answers a device's JSON and multipart posts alike."""

import json
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

import cameras.authentication
from anpr.tests.test_device_stack import wsgi_call
from cameras.services import device_create
from cameras.tests.factories import CameraFactory
from events.models import PlateEvent

from .images import image_bytes

pytestmark = pytest.mark.django_db
NATIVE = "/api/events/ingest/"
PLATE_RECOGNIZER = "/api/ingest/platerecognizer/"


@pytest.fixture
def key_lookups(monkeypatch):
    """The keys looked up (cameras.selectors.device_for_key), in order."""
    looked_up = []
    lookup = cameras.authentication.device_for_key

    def counted(*, key):
        looked_up.append(key)
        return lookup(key=key)

    monkeypatch.setattr(cameras.authentication, "device_for_key", counted)
    return looked_up


def _read(camera, **fields) -> dict:
    return {
        "camera": camera.slug,
        "plate": "AB12CDE",
        "captured_at": timezone.now().isoformat(),
        **fields,
    }


def _webhook(camera) -> dict:
    return {
        "hook": {"event": "recognition"},
        "data": {
            "camera_id": camera.slug,
            "timestamp": timezone.now().isoformat(),
            "results": [{"plate": "ab12cde", "score": 0.9}],
        },
    }


def test_each_request_looks_its_key_up_once(device_client, camera, key_lookups):
    posts = [
        lambda client: client.post(NATIVE, _read(camera, event_id="1"), format="json"),
        lambda client: client.post(NATIVE, [_read(camera, event_id="2")], format="json"),
        lambda client: client.post(
            NATIVE,
            {
                **_read(camera, event_id="3"),
                "plate_image": SimpleUploadedFile("p.png", image_bytes("PNG")),
            },
        ),
        lambda client: client.post(PLATE_RECOGNIZER, _webhook(camera), format="json"),
    ]
    for post in posts:
        key_lookups.clear()
        response = post(device_client)
        assert response.status_code == 201, response.content
        assert len(key_lookups) == 1
    assert PlateEvent.objects.count() == 4


@pytest.mark.parametrize("url", [NATIVE, PLATE_RECOGNIZER])
def test_a_bad_key_is_looked_up_once_and_answered_401(camera, key_lookups, url):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-key")
    response = client.post(url, _read(camera), format="json")
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid or revoked device key."
    assert key_lookups == ["not-a-key"]


@pytest.mark.parametrize("url", [NATIVE, PLATE_RECOGNIZER])
def test_a_device_is_answered_in_json_whatever_it_accepts(device_client, camera, url):
    body = _read(camera) if url == NATIVE else _webhook(camera)
    response = device_client.post(url, body, format="json", HTTP_ACCEPT="text/html")
    assert response.status_code == 201, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()


@pytest.mark.django_db(transaction=True)
def test_under_the_device_stack_a_key_is_looked_up_once_too(
    device_with_key, camera, key_lookups, settings
):
    """Through gunicorn's device stack (anpr/handlers.py) a key is looked up once as well,
    and a bad one answers 401."""
    from django.core.wsgi import get_wsgi_application

    from anpr.handlers import application_with_device_stack

    settings.SECURE_SSL_REDIRECT = False
    application = application_with_device_stack(get_wsgi_application())
    _, key = device_with_key
    body = json.dumps(_read(camera)).encode()

    status, _, content = wsgi_call(
        application, "POST", NATIVE, body=body, headers={"HTTP_X_API_KEY": key}
    )
    assert status == 201, content
    assert key_lookups == [key]

    key_lookups.clear()
    status, _, content = wsgi_call(
        application, "POST", NATIVE, body=body, headers={"HTTP_X_API_KEY": "not-a-key"}
    )
    assert status == 401, content
    assert key_lookups == ["not-a-key"]


@pytest.mark.parametrize(
    ("url", "body", "content_format"),
    [
        (NATIVE, "json", "json"),
        (NATIVE, "form", "multipart"),
        (PLATE_RECOGNIZER, "webhook", "json"),
    ],
)
def test_the_declared_throttle_answers_every_kind_of_post(
    device_client, camera, settings, url, body, content_format
):
    settings.INGEST_THROTTLE_RATE = "1/min"
    bodies = {
        "json": lambda n: _read(camera, event_id=n),
        "form": lambda n: _read(camera, event_id=n),
        "webhook": lambda n: _webhook(camera),
    }
    first = device_client.post(url, bodies[body]("1"), format=content_format)
    assert first.status_code == 201, first.content
    second = device_client.post(url, bodies[body]("2"), format=content_format)
    assert second.status_code == 429, second.content
    assert second.json()["code"] == "throttled"
    assert int(second["Retry-After"]) > 0
    assert PlateEvent.objects.count() == 1


PAYLOADS = Path(__file__).parent / "payloads"  # the published samples (../shared/edge-payloads)


def _camera_ids(document) -> set[str]:
    """The camera references a vendor document carries (`camera_id`, `camera`)."""
    found, pending = set(), [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            found |= {str(v) for k, v in value.items() if k in ("camera_id", "camera") and v != ""}
            pending += value.values()
        elif isinstance(value, list):
            pending += value
    return found


@pytest.mark.parametrize("sample", sorted(p.name for p in PAYLOADS.glob("*.json")))
def test_every_published_sample_is_accepted_at_its_vendors_endpoint(sample):
    """Each sample, posted as the vendor sends it, is answered 2xx with no read rejected. The
        OpenALPR documentation's placeholder crops ("...base64 jpeg data...", not base64: refused
    as not the agent's document) are left out."""
    vendor = sample.split("_", 1)[0]
    raw = (PAYLOADS / sample).read_bytes()  # as sent: one of them begins with a UTF-8 BOM
    if re.search(rb'"\.\.\. ?base ?64 (jpeg|image) data', raw):
        document = json.loads(raw.decode("utf-8-sig"))
        document.pop("vehicle_crop_jpeg", None)
        document.get("best_plate", {}).pop("plate_crop_jpeg", None)
        for result in document.get("results", []):
            result.pop("plate_crop_jpeg", None)
        raw = json.dumps(document).encode()
    names = _camera_ids(json.loads(raw.decode("utf-8-sig"))) or {"only-camera"}
    cameras = [
        CameraFactory(slug=f"cam-{n}".lower().replace("_", "-"), external_id=n) for n in names
    ]
    _, issued = device_create(name=f"{vendor}-agent", cameras=cameras)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issued.key}")

    response = client.post(f"/api/ingest/{vendor}/", raw, content_type="application/json")

    assert response.status_code in (200, 201), response.content
    answer = response.json()
    assert answer["rejected"] == 0, answer
    assert answer["created"] + answer["updated"] == len(answer["results"])
    assert PlateEvent.objects.count() == len(answer["results"])


@pytest.mark.parametrize("url", [NATIVE, PLATE_RECOGNIZER])
def test_a_multipart_body_without_its_boundary_is_a_400_naming_the_body(device_client, url):
    response = device_client.generic(
        "POST", url, b"--x\r\nnot a part", content_type="multipart/form-data"
    )
    assert response.status_code == 400, response.content
    assert "body" in response.json()["errors"]
    assert PlateEvent.objects.count() == 0
