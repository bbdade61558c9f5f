"""POST /api/events/ingest/: what a device sees for good, repeated, batched, bad and oversized
posts, and that a refused post leaves no row and no file."""

import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from cameras.authentication import DeviceKeyAuthentication, UserTokenAuthentication
from cameras.services import device_create, device_key_revoke, user_token_issue
from cameras.tests.factories import CameraFactory
from events.api.ingest import EventIngestView
from events.models import PlateEvent

from .images import image_bytes, media_files, png_1bit, png_declaring

URL = "/api/events/ingest/"


def _event(**overrides) -> dict:
    body = {
        "event_id": "box-1:0001",
        "plate": "AB12 CDE",
        "captured_at": (timezone.now() - timedelta(seconds=3)).isoformat(),
        "confidence": 0.91,
        "vehicle_type": "SUV",
        "direction": "in",
    }
    body.update(overrides)
    return body


def _post(client, body, **kwargs):
    return client.post(URL, json.dumps(body), content_type="application/json", **kwargs)


def _assert_nothing_stored(settings):
    assert PlateEvent.objects.count() == 0
    assert media_files(settings.MEDIA_ROOT) == []


def test_one_event_is_created_and_a_retry_returns_the_first_id(device_client, camera):
    first = _post(device_client, _event(camera=camera.slug, lane=3))
    assert first.status_code == 201, first.content
    again = _post(device_client, _event(camera=camera.slug, plate="ZZ99ZZZ"))
    assert again.status_code == 200
    assert again.json() == {"id": first.json()["id"], "status": "duplicate"}
    event = PlateEvent.objects.get()
    assert str(event.id) == first.json()["id"]
    assert (event.plate, event.vehicle_type, event.vehicle_type_raw) == ("AB12CDE", "car", "SUV")
    assert event.source == "native" and event.metadata == {"lane": 3}


def test_the_key_may_come_as_x_api_key_or_in_the_path(device_with_key):
    _, key = device_with_key
    by_header = _post(APIClient(), _event(event_id="h"), HTTP_X_API_KEY=key)
    by_path = APIClient().post(
        f"{URL}{key}/", json.dumps(_event(event_id="p")), content_type="application/json"
    )
    assert (by_header.status_code, by_path.status_code) == (201, 201)
    assert PlateEvent.objects.count() == 2


def test_a_batch_rejects_only_its_bad_items(device_client):
    body = [
        _event(event_id="1"),
        _event(event_id="2", confidence=7),
        _event(event_id="1"),
        "not an event",
        _event(event_id="3", captured_at="2100-01-01T00:00:00Z"),
        _event(event_id="4", plate="XY99ZZZ"),
    ]
    response = _post(device_client, body)
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["created"], data["duplicate"], data["rejected"]) == (2, 1, 3)
    statuses = [r["status"] for r in data["results"]]
    assert statuses == ["created", "rejected", "duplicate", "rejected", "rejected", "created"]
    assert [r["index"] for r in data["results"]] == list(range(6))
    assert data["results"][2]["id"] == data["results"][0]["id"]
    assert "confidence" in data["results"][1]["errors"]
    assert "non_field_errors" in data["results"][3]["errors"]
    assert "captured_at" in data["results"][4]["errors"]
    assert PlateEvent.objects.count() == 2
    resent = _post(device_client, body)
    assert resent.status_code == 200 and resent.json()["created"] == 0
    assert PlateEvent.objects.count() == 2


def test_a_batch_whose_every_item_is_rejected_is_a_200_with_one_result_each(device_client):
    """A body that was read is answered with its results, whatever became of them: a 4xx
    would make the agent resend reads that would be refused again on every retry."""
    body = [_event(event_id="1", confidence=7), "not an event", _event(event_id="2", plate="")]
    response = _post(device_client, body)
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["created"], data["updated"], data["duplicate"], data["rejected"]) == (0, 0, 0, 3)
    assert data["detail"] == "3 rejected"
    assert [(r["index"], r["status"], r["id"]) for r in data["results"]] == [
        (0, "rejected", None),
        (1, "rejected", None),
        (2, "rejected", None),
    ]
    assert [set(r["errors"]) for r in data["results"]] == [
        {"confidence"},
        {"non_field_errors"},
        {"plate"},
    ]
    assert all(r["warnings"] == [] for r in data["results"])
    assert PlateEvent.objects.count() == 0


def test_one_event_keeps_its_400_when_refused(device_client):
    response = _post(device_client, _event(confidence=7))
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"confidence"}


def test_an_empty_batch_is_refused_whole(device_client):
    response = _post(device_client, [])
    assert response.status_code == 400
    assert response.json()["errors"] == {"non_field_errors": ["The batch is empty."]}


def test_a_batch_over_the_limit_is_refused_whole(device_client, settings):
    settings.EVENT_BATCH_MAX_ITEMS = 3
    response = _post(device_client, [_event(event_id=str(n)) for n in range(4)])
    assert response.status_code == 400
    assert "At most 3" in response.json()["errors"]["non_field_errors"][0]
    assert PlateEvent.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"captured_at": "2026-01-01T00:00:00Z"}, "plate"),
        (_event(confidence="high"), "confidence"),
        (_event(plate=["AB12CDE"]), "plate"),
        (_event(confidence=7), "confidence"),
        (_event(captured_at="2100-01-01T00:00:00Z"), "captured_at"),
        (_event(captured_at="26/11/2026"), "captured_at"),
        (_event(camera="no-such-camera"), "camera"),
    ],
)
def test_a_bad_event_is_a_400_naming_the_field(device_client, settings, body, field):
    response = _post(device_client, body)
    assert response.status_code == 400, response.content
    data = response.json()
    assert data["code"] == "invalid" and field in data["errors"], data
    _assert_nothing_stored(settings)


def test_bad_json_is_a_400_naming_the_body(device_client, settings):
    response = device_client.post(URL, b'{"plate": "AB1', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    [error] = response.json()["errors"]["body"]
    assert error.startswith("Not valid JSON: ")
    not_text = device_client.post(URL, b'{"plate": "\xff"}', content_type="application/json")
    assert not_text.status_code == 400
    assert not_text.json()["errors"] == {"body": ["Not UTF-8 text."]}
    _assert_nothing_stored(settings)


def test_a_utf8_byte_order_mark_before_the_json_is_allowed(device_client, camera):
    body = "\ufeff".encode() + json.dumps(_event(camera=camera.slug)).encode()
    response = device_client.post(URL, body, content_type="application/json")
    assert response.status_code == 201, response.content
    assert PlateEvent.objects.filter(pk=response.json()["id"]).exists()


def test_another_devices_camera_is_refused_by_name(device_client, settings):
    foreign = CameraFactory(slug="their-gate")
    device_create(name="their-box", cameras=[foreign])
    response = _post(device_client, _event(camera="their-gate"))
    assert response.status_code == 400
    assert "their-gate" in response.json()["errors"]["camera"][0]
    _assert_nothing_stored(settings)


def test_a_revoked_or_missing_key_is_a_401(device_with_key, settings):
    device, key = device_with_key
    assert _post(APIClient(), _event()).status_code == 401
    device_key_revoke(key=device.keys.get())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = _post(client, _event())
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    _assert_nothing_stored(settings)


def test_a_user_cannot_post_events(operator, camera, settings):
    """A user's own credentials are no device key: the endpoint asks for one (401), by API
    token or by session."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {user_token_issue(user=operator, name='t').key}")
    response = _post(client, _event(camera=camera.slug))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    client = APIClient()
    client.force_login(operator)
    assert _post(client, _event(camera=camera.slug)).status_code == 401
    _assert_nothing_stored(settings)


def test_the_declared_permission_refuses_a_user_recognised(operator, camera, rf, settings):
    """The view's declared permission runs where it is declared: were users recognised too
    (an authenticator added), a user would be refused as no device (403)."""

    class UsersToo(EventIngestView):
        authentication_classes = [DeviceKeyAuthentication, UserTokenAuthentication]

    token = user_token_issue(user=operator, name="t").key
    request = rf.post(
        "/api/events/ingest/",
        json.dumps(_event(camera=camera.slug)),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    response = UsersToo.as_view()(request).render()
    assert response.status_code == 403
    assert json.loads(response.content) == {
        "detail": "This endpoint is for edge devices: send the device key.",
        "code": "permission_denied",
    }
    _assert_nothing_stored(settings)


def test_multipart_with_images_stores_the_files(device_client, camera, settings):
    response = device_client.post(
        URL,
        {
            "plate": "AB12CDE",
            "captured_at": _event()["captured_at"],
            "confidence": "0.8",
            "metadata": '{"lane": 1}',
            "plate_image": SimpleUploadedFile("crop.jpg", image_bytes(), "image/jpeg"),
            "frame_image": SimpleUploadedFile("frame.png", image_bytes("PNG"), "image/png"),
        },
    )
    assert response.status_code == 201, response.content
    event = PlateEvent.objects.get()
    assert (event.confidence, event.metadata) == (0.8, {"lane": 1})
    assert event.plate_image.name.startswith(f"events/{camera.slug}/")
    assert event.plate_image.name.endswith("-plate.jpg")
    assert event.frame_image.name.endswith("-frame.png")
    assert len(media_files(settings.MEDIA_ROOT)) == 2


def test_multipart_may_carry_the_event_as_json(device_client):
    response = device_client.post(
        URL,
        {
            "event": json.dumps(_event()),
            "plate_image": SimpleUploadedFile("crop.webp", image_bytes("WEBP"), "image/webp"),
        },
    )
    assert response.status_code == 201, response.content
    assert PlateEvent.objects.get().plate_image.name.endswith(".webp")


def test_a_text_file_posing_as_a_jpeg_is_left_out_with_a_warning(device_client, settings):
    response = device_client.post(
        URL,
        {
            **_event(),
            "plate_image": SimpleUploadedFile("crop.jpg", image_bytes(), "image/jpeg"),
            "frame_image": SimpleUploadedFile("frame.jpg", b"I am not a JPEG", "image/jpeg"),
        },
    )
    assert response.status_code == 201, response.content
    assert response.json()["warnings"] == [
        "frame_image: not a JPEG, PNG or WebP image; the read was stored without it."
    ]
    event = PlateEvent.objects.get(pk=response.json()["id"])
    assert event.plate_image and not event.frame_image


def test_an_image_in_the_json_is_left_out_with_a_warning(device_client):
    response = device_client.post(URL, _event(plate_image="aGVsbG8="), format="json")
    assert response.status_code == 201, response.content
    assert "multipart files, not in the JSON" in response.json()["warnings"][0]


def test_an_oversized_image_is_a_413_leaving_nothing(device_client, settings):
    settings.EVENT_IMAGE_MAX_BYTES = 2048
    big = image_bytes("PNG", (400, 400)) + b"\0" * 4096
    response = device_client.post(
        URL, {**_event(), "plate_image": SimpleUploadedFile("big.png", big, "image/png")}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert "plate_image" in response.json()["detail"]
    _assert_nothing_stored(settings)


@pytest.mark.parametrize(
    "picture",
    [
        pytest.param(lambda: png_1bit(6000, 6000), id="36-megapixel PNG of a few KB"),
        pytest.param(lambda: png_declaring(20000, 20000), id="400-megapixel header"),
    ],
)
def test_an_image_of_too_many_pixels_is_refused_by_its_header(device_client, settings, picture):
    content = picture()
    assert len(content) < 64 * 1024  # small in bytes: only the pixel count refuses it
    response = device_client.post(
        URL, {**_event(), "frame_image": SimpleUploadedFile("f.png", content, "image/png")}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    [message] = response.json()["errors"]["frame_image"]
    assert "too large" in message and "8847360 pixels" in message
    _assert_nothing_stored(settings)


def test_a_4k_frame_is_accepted(device_client):
    response = device_client.post(
        URL, {**_event(), "frame_image": SimpleUploadedFile("f.png", png_1bit(4096, 2160))}
    )
    assert response.status_code == 201, response.content


def test_an_oversized_body_is_a_413_before_it_is_read(device_client, settings):
    settings.EVENT_UPLOAD_MAX_BYTES = 4096
    response = _post(device_client, [_event(event_id=str(n)) for n in range(40)])
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    _assert_nothing_stored(settings)


def test_json_over_djangos_data_limit_is_a_413(device_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    response = _post(device_client, [_event(event_id=str(n)) for n in range(40)])
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    _assert_nothing_stored(settings)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'"metadata": {"speed": NaN}', "metadata"),
        (b'"candidates": [{"plate": "AB", "confidence": Infinity}]', "candidates"),
        (b'"plate_box": [1, 2, NaN, 4]', "plate_box"),
        (b'"metadata": {"note": "a\\u0000b"}', "metadata"),
        (b'"vehicle_color": "red\\u0000"', "vehicle_color"),
        (b'"event_id": "x\\u0000"', "event_id"),
        (b'"camera": "north\\u0000gate"', "camera"),
        (b'"zone": "lane\\u0000"', "zone"),
    ],
)
def test_json_the_database_cannot_store_is_a_400_not_a_500(device_client, settings, raw, field):
    body = b'{"plate": "AB12CDE", "captured_at": "2026-01-01T00:00:00Z", ' + raw + b"}"
    response = device_client.post(URL, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    _assert_nothing_stored(settings)


def test_a_nul_in_the_plate_is_refused(device_client, settings):
    response = _post(device_client, _event(plate="AB1\x002CDE"))
    assert response.status_code == 400 and "plate" in response.json()["errors"]
    _assert_nothing_stored(settings)


def test_absurdly_nested_json_is_a_400(device_client, settings):
    body = b"[" * 100_000 + b"]" * 100_000
    response = device_client.post(URL, body, content_type="application/json")
    assert response.status_code == 400
    _assert_nothing_stored(settings)


def test_a_key_in_the_path_never_reaches_the_logs(device_with_key, caplog):
    """Our log formatters mask the key segment of the ingest URL, also in Django's own
    'Unauthorized: <path>' warning for a wrong key."""
    import logging

    from core.logging import JsonFormatter, PlainFormatter

    _, key = device_with_key
    wrong = "anprd_" + "x" * 43
    with caplog.at_level(logging.INFO):
        for secret in (key, wrong):
            APIClient().post(
                f"{URL}{secret}/",
                json.dumps(_event(event_id=secret[-6:])),
                content_type="application/json",
            )
    assert caplog.records, "the requests were logged"
    for formatter in (PlainFormatter(), JsonFormatter()):
        lines = "\n".join(formatter.format(record) for record in caplog.records)
        assert key not in lines and wrong not in lines
        assert "/api/events/ingest/***" in lines


def test_an_unexpected_error_reaches_django_as_itself_under_debug(
    device_client, camera, settings, monkeypatch
):
    """The device views' dispatch hands an error it cannot answer to Django's handler (a
    500) as it was raised, with DEBUG on too."""
    settings.DEBUG = True

    def broken(**kwargs):
        raise RuntimeError("the storage broke")

    monkeypatch.setattr("events.api.ingest.plate_events_ingest", broken)
    with pytest.raises(RuntimeError, match="the storage broke"):
        _post(device_client, _event(camera=camera.slug))
