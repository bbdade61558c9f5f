"""anpr.wsgi serves device paths through the short DEVICE_MIDDLEWARE stack and everything
else through the full one (the browser headers show which stack answered)."""

import io
import json
import sys

import pytest
from django.utils import timezone


def _call(application, method, path, *, body=b"", headers=None):
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

    content = b"".join(application(environ, start_response))
    return answer["status"], answer["headers"], content


@pytest.mark.django_db(transaction=True)
def test_device_ingest_skips_the_browser_middleware_and_the_rest_keeps_it(device_with_key, camera):
    from anpr.wsgi import application

    _, key = device_with_key
    read = {
        "event_id": "stack-1",
        "camera": camera.slug,
        "plate": "AB12CDE",
        "captured_at": timezone.now().isoformat(),
    }
    status, headers, content = _call(
        application,
        "POST",
        "/api/events/ingest/",
        body=json.dumps(read).encode(),
        headers={"HTTP_AUTHORIZATION": f"Token {key}"},
    )
    assert status == 201, content
    assert json.loads(content)["status"] == "created"
    assert "x-request-id" in headers  # logged and traced like every request
    assert "x-frame-options" not in headers and "x-content-type-options" not in headers

    status, headers, _ = _call(application, "GET", "/api/cameras/")
    assert status == 401
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert "x-request-id" in headers
