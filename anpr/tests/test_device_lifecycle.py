"""Under the WSGI application gunicorn serves (anpr.wsgi), every device request goes through
Django's request cycle built from DEVICE_MIDDLEWARE: a middleware added there runs for a
native JSON read, a batch, a multipart upload and a vendor's post, and the request signals
(whose receivers close a broken or old database connection) are sent for each."""

import importlib
import json
from pathlib import Path

import pytest
from django.core.signals import request_finished, request_started
from django.test.client import encode_multipart
from django.utils import timezone

from anpr.tests.test_device_stack import wsgi_call
from cameras.models import EdgeDevice
from events.models import PlateEvent
from events.tests.images import image_bytes

MARKER_HEADER = "X-Device-Stack-Marker"
#: Paths the marker middleware saw, in order.
seen: list[str] = []


class StackMarkerMiddleware:
    """Stands for a middleware someone adds to DEVICE_MIDDLEWARE: notes each request it
    serves and marks the answer."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        seen.append(request.path)
        response = self.get_response(request)
        response[MARKER_HEADER] = "device"
        return response


@pytest.fixture
def device_wsgi(settings):
    """anpr.wsgi's application, loaded again with StackMarkerMiddleware added at the end of
    DEVICE_MIDDLEWARE (the innermost place, nearest the view), and the request signals
    counted; the plain application is loaded back afterwards."""
    import anpr.wsgi

    device_middleware = list(settings.DEVICE_MIDDLEWARE)
    settings.DEVICE_MIDDLEWARE = [*device_middleware, f"{__name__}.StackMarkerMiddleware"]
    seen.clear()
    signals = {"started": 0, "finished": 0}

    def started(**kwargs):
        signals["started"] += 1

    def finished(**kwargs):
        signals["finished"] += 1

    request_started.connect(started)
    request_finished.connect(finished)
    try:
        yield importlib.reload(anpr.wsgi).application, signals
    finally:
        request_started.disconnect(started)
        request_finished.disconnect(finished)
        settings.DEVICE_MIDDLEWARE = device_middleware
        importlib.reload(anpr.wsgi)


def _post(application, key: str, body: bytes, content_type: str, path="/api/events/ingest/"):
    return wsgi_call(
        application,
        "POST",
        path,
        body=body,
        headers={"HTTP_AUTHORIZATION": f"Token {key}", "CONTENT_TYPE": content_type},
    )


@pytest.mark.django_db(transaction=True)
def test_a_middleware_added_to_the_device_stack_serves_every_kind_of_device_request(
    device_wsgi, device_with_key, camera, settings, tmp_path
):
    application, signals = device_wsgi
    device, key = device_with_key
    settings.MEDIA_ROOT = tmp_path
    now = timezone.now().isoformat()

    def read(event_id, plate="AB12CDE"):
        return {"event_id": event_id, "camera": camera.slug, "plate": plate, "captured_at": now}

    answers = {
        "native JSON read": _post(
            application, key, json.dumps(read("one")).encode(), "application/json"
        ),
        "batch": _post(
            application,
            key,
            json.dumps([read("batch-1"), read("batch-2")]).encode(),
            "application/json",
        ),
        "multipart upload": _post(
            application,
            key,
            encode_multipart(
                "BoUnDaRy",
                {**read("upload", "XY34ZZZ"), "plate_image": _png("crop.png")},
            ),
            "multipart/form-data; boundary=BoUnDaRy",
        ),
    }
    camera.external_id = "1234"  # the camera the OpenALPR heartbeat names
    camera.save()
    heartbeat = Path(__file__).parents[2] / "events/tests/payloads/openalpr_heartbeat.json"
    answers["vendor post"] = _post(
        application, key, heartbeat.read_bytes(), "application/json", "/api/ingest/openalpr/"
    )

    for kind, (status, headers, content) in answers.items():
        assert status in (200, 201), (kind, content)
        assert headers.get(MARKER_HEADER.lower()) == "device", f"{kind}: the middleware was skipped"
        assert "x-request-id" in headers, kind
    assert seen == [
        "/api/events/ingest/",
        "/api/events/ingest/",
        "/api/events/ingest/",
        "/api/ingest/openalpr/",
    ]
    assert signals == {"started": 4, "finished": 4}
    assert PlateEvent.objects.count() == 4  # one, two from the batch, the upload
    assert EdgeDevice.objects.get(pk=device.pk).last_seen_at is not None  # the heartbeat

    # A browser's request is served by the full stack, not by the device one.
    status, headers, _ = wsgi_call(application, "GET", "/api/cameras/")
    assert status == 401 and MARKER_HEADER.lower() not in headers
    assert headers["x-frame-options"] == "DENY"
    assert seen[-1] == "/api/ingest/openalpr/"


def _png(name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, image_bytes("PNG"))
