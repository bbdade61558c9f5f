"""anpr.wsgi serves device paths through the short DEVICE_MIDDLEWARE stack and everything
else through the full one (the browser headers show which stack answered)."""

import io
import json
import sys

import pytest
from django.utils import timezone

from conftest import require_service
from events.models import PlateEvent


def wsgi_call(application, method, path, *, body=b"", headers=None):
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        **(headers or {}),
    }
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"] = int(status.split()[0])
        answer["headers"] = {name.lower(): value for name, value in response_headers}

    result = application(environ, start_response)
    try:
        content = b"".join(result)
    finally:
        if hasattr(result, "close"):  # as a WSGI server does (Django sends request_finished)
            result.close()
    return answer["status"], answer["headers"], content


def post_read(key: str, camera, event_id: str | None = None, **headers):
    """POST one read for `camera` to anpr.wsgi's ingest URL with the device key: (status,
    headers, content)."""
    from anpr.wsgi import application

    read = {"camera": camera.slug, "plate": "AB12CDE", "captured_at": timezone.now().isoformat()}
    if event_id is not None:
        read["event_id"] = event_id
    return wsgi_call(
        application,
        "POST",
        "/api/events/ingest/",
        body=json.dumps(read).encode(),
        headers={"HTTP_AUTHORIZATION": f"Token {key}", **headers},
    )


def _device_requests(status: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("anpr_device_requests_total", {"status": status}) or 0


@pytest.mark.django_db(transaction=True)
def test_device_ingest_skips_the_browser_middleware_and_the_rest_keeps_it(device_with_key, camera):
    from anpr.wsgi import application

    _, key = device_with_key
    created_before = _device_requests("201")
    status, headers, content = post_read(key, camera, "stack-1")
    assert status == 201, content
    assert json.loads(content)["status"] == "created"
    assert "x-request-id" in headers  # logged and traced like every request
    assert _device_requests("201") == created_before + 1  # counted by status
    assert "x-frame-options" not in headers and "vary" not in headers  # no browser stack

    status, headers, _ = wsgi_call(application, "GET", "/api/cameras/")
    assert status == 401
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert "x-request-id" in headers


@pytest.mark.django_db(transaction=True)
def test_device_paths_keep_the_https_redirect_and_the_host_check(device_with_key, camera, settings):
    """A camera set to http:// behind HTTPS=true is redirected (it fails loudly instead of
    sending its key in clear), and a host outside ALLOWED_HOSTS is refused."""
    from django.core.wsgi import get_wsgi_application

    from anpr.handlers import application_with_device_stack

    _, key = device_with_key
    auth = {"HTTP_AUTHORIZATION": f"Token {key}"}
    settings.SECURE_SSL_REDIRECT = True  # read when the middleware is built
    application = application_with_device_stack(get_wsgi_application())
    status, headers, _ = wsgi_call(application, "POST", "/api/events/ingest/", headers=auth)
    assert status == 301 and headers["location"].startswith("https://")

    settings.SECURE_SSL_REDIRECT = False
    application = application_with_device_stack(get_wsgi_application())
    read = {"camera": camera.slug, "plate": "AB12CDE", "captured_at": timezone.now().isoformat()}
    status, _, content = wsgi_call(
        application,
        "POST",
        "/api/events/ingest/",
        body=json.dumps(read).encode(),
        headers={**auth, "HTTP_HOST": "evil.example"},
    )
    assert status == 400, content
    assert not PlateEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_device_ingest_answers_as_the_api_does(device_with_key, camera, settings):
    """Through the device stack, POST /api/events/ingest/ answers as the API does: created,
    duplicate, refused naming the field, unauthenticated, throttled."""
    from anpr.wsgi import application

    _, key = device_with_key
    auth = {"HTTP_AUTHORIZATION": f"Token {key}"}
    read = {
        "event_id": "direct-1",
        "camera": camera.slug,
        "plate": "AB12CDE",
        "captured_at": timezone.now().isoformat(),
    }
    body = json.dumps(read).encode()
    status, headers, content = wsgi_call(
        application, "POST", "/api/events/ingest/", body=body, headers=auth
    )
    assert status == 201 and headers["content-type"] == "application/json"
    first = json.loads(content)
    assert first == {"id": str(PlateEvent.objects.get().pk), "status": "created"}
    assert PlateEvent.objects.get().pk.version == 7  # ids in time order (core/ids.py)
    status, _, content = wsgi_call(
        application, "POST", "/api/events/ingest/", body=body, headers=auth
    )
    assert status == 200 and json.loads(content) == {"id": first["id"], "status": "duplicate"}

    bad = json.dumps({**read, "event_id": "direct-2", "confidence": 7}).encode()
    status, _, content = wsgi_call(
        application, "POST", "/api/events/ingest/", body=bad, headers=auth
    )
    assert status == 400
    assert (
        json.loads(content)["code"] == "invalid" and "confidence" in json.loads(content)["errors"]
    )

    status, _, content = wsgi_call(application, "POST", "/api/events/ingest/", body=body)
    assert status == 401 and json.loads(content)["code"] == "not_authenticated"

    settings.INGEST_THROTTLE_RATE = "1/min"
    wsgi_call(application, "POST", "/api/events/ingest/", body=body, headers=auth)
    status, headers, content = wsgi_call(
        application, "POST", "/api/events/ingest/", body=body, headers=auth
    )
    assert status == 429 and json.loads(content)["code"] == "throttled"
    assert int(headers["retry-after"]) > 0
    assert PlateEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_device_ingest_answers_batches_bad_json_and_uploads(
    device_with_key, camera, settings, tmp_path
):
    """Through the device stack a batch, a body that is not JSON and a multipart upload are
    answered in the API's shapes, with the request id and an exact Content-Length."""
    from django.test.client import encode_multipart

    from anpr.wsgi import application
    from events.tests.images import image_bytes

    settings.MEDIA_ROOT = tmp_path
    _, key = device_with_key
    auth = {"HTTP_AUTHORIZATION": f"Token {key}", "HTTP_X_REQUEST_ID": "batch-request-0001"}
    now = timezone.now().isoformat()
    batch = [
        {"event_id": "b-1", "camera": camera.slug, "plate": "AB12CDE", "captured_at": now},
        {"event_id": "b-2", "camera": camera.slug, "plate": "AB12CDE", "confidence": 7},
        "not an event",
    ]
    status, headers, content = wsgi_call(
        application, "POST", "/api/events/ingest/", body=json.dumps(batch).encode(), headers=auth
    )
    assert status == 201, content
    assert headers["x-request-id"] == "batch-request-0001"
    assert int(headers["content-length"]) == len(content)
    answer = json.loads(content)
    assert (answer["created"], answer["rejected"]) == (1, 2)
    assert [r["status"] for r in answer["results"]] == ["created", "rejected", "rejected"]
    assert set(answer["results"][1]["errors"]) == {"captured_at", "confidence"}

    status, _, content = wsgi_call(
        application, "POST", "/api/events/ingest/", body=b'{"plate": "AB1', headers=auth
    )
    assert status == 400 and "body" in json.loads(content)["errors"]

    form = encode_multipart(
        "BoUnDaRy",
        {
            "camera": camera.slug,
            "plate": "XY34ZZZ",
            "captured_at": now,
            "plate_image": _named(image_bytes("PNG"), "crop.png"),
        },
    )
    status, headers, content = wsgi_call(
        application,
        "POST",
        "/api/events/ingest/",
        body=form,
        headers={**auth, "CONTENT_TYPE": "multipart/form-data; boundary=BoUnDaRy"},
    )
    assert status == 201, content
    assert PlateEvent.objects.get(plate="XY34ZZZ").plate_image.name.endswith(".png")
    assert PlateEvent.objects.count() == 2


def _named(content: bytes, name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content)


@pytest.mark.django_db(transaction=True)
def test_a_database_lost_during_device_ingest_is_a_logged_503_and_the_next_read_gets_in(
    device_with_key, camera, monkeypatch, caplog
):
    """The server vanishes without a word (its socket looks quiet, as after a failover): the
    read in flight is answered 503 with Retry-After in the API's shape (the device keeps it
    and retries) and the outage is logged with its request id; the broken connection is
    closed, so the next read is stored over a new one."""
    import psycopg
    from django.db import connection

    from anpr.postgresql.base import DatabaseWrapper

    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "its persistent connections are what is tested")
    _, key = device_with_key

    def post(event_id):
        return post_read(key, camera, event_id)

    assert post("vanish-1")[0] == 201
    pid = connection.connection.info.backend_pid
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    real_is_usable = DatabaseWrapper.is_usable
    checks = iter([True])  # the check before the read sees nothing; later ones are real
    monkeypatch.setattr(
        DatabaseWrapper, "is_usable", lambda self: next(checks, None) or real_is_usable(self)
    )

    status, headers, content = post("vanish-2")
    assert (status, headers["retry-after"]) == (503, "5"), content
    assert json.loads(content)["code"] == "database_unavailable"
    logged = [r for r in caplog.records if r.name == "anpr.outage"]
    assert logged and logged[-1].request_id == headers["x-request-id"]

    status, _, content = post("vanish-3")
    assert status == 201, content
    assert set(PlateEvent.objects.values_list("idempotency_key", flat=True)) == {
        "vanish-1",
        "vanish-3",
    }


@pytest.mark.django_db(transaction=True)
def test_device_ingest_serves_under_a_script_prefix(device_with_key, camera):
    """Behind a proxy that mounts the site under /anpr (SCRIPT_NAME), a device's read is
    stored, and the request after it (no prefix) is too."""
    _, key = device_with_key
    status, headers, content = post_read(key, camera, "prefixed-1", SCRIPT_NAME="/anpr")
    assert status == 201, content
    assert "x-request-id" in headers
    status, _, content = post_read(key, camera, "plain-1")
    assert status == 201, content
    assert PlateEvent.objects.count() == 2
