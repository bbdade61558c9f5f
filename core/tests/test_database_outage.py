"""PostgreSQL out of reach: every kind of request is answered 503 with Retry-After (not a 500
with a traceback each), the log says so once per outage, and service resumes without a
restart. The Django connection is pointed at a local port where nothing listens, or at one
that listens but never accepts (a host that does not answer)."""

import logging
import socket
import time

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

import anpr.wsgi  # noqa: F401 - sets logging up again when imported: before caplog, not in a test
from anpr.asgi import application
from anpr.tests.test_device_stack import post_read
from conftest import require_service
from core.outage import CLOSE_TRY_AGAIN_LATER

pytestmark = pytest.mark.django_db(transaction=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class DatabaseAddress:
    """Where the Django connection (every thread's) connects: moved for a test, then back."""

    def __init__(self):
        self.real = connection.settings_dict["HOST"], connection.settings_dict["PORT"]

    def move(self, host: str, port) -> None:
        connection.close()
        connection.settings_dict.update(HOST=host, PORT=str(port))

    def restore(self) -> None:
        self.move(*self.real)


@pytest.fixture
def database_address():
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "outages are tested on PostgreSQL")
    address = DatabaseAddress()
    yield address
    address.restore()


@pytest.fixture
def unanswering_server():
    """A local TCP server that listens and never accepts: connections hang, as to a host gone."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


def _assert_unavailable(response) -> None:
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "5"
    assert response.json()["code"] == "database_unavailable"


def test_every_request_answers_503_with_retry_after_and_the_outage_is_logged_once(
    database_address, device_with_key, camera, viewer, caplog
):
    _, key = device_with_key
    browser = Client(raise_request_exception=False)
    browser.force_login(viewer)
    cookie = f"sessionid={browser.cookies['sessionid'].value}".encode()
    api = APIClient(raise_request_exception=False)
    api.force_authenticate(viewer)
    device = APIClient(raise_request_exception=False)
    device.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    caplog.set_level(logging.INFO)

    database_address.move("127.0.0.1", _free_port())
    for attempt in range(5):
        _assert_unavailable(api.get("/api/events/"))  # a DRF view
        _assert_unavailable(api.get("/api/cameras/"))
        read = {"camera": camera.slug, "plate": "AB12CDE", "captured_at": "2026-01-01T00:00Z"}
        _assert_unavailable(device.post("/api/events/ingest/", read, format="json"))
        status, headers, content = post_read(key, camera, f"away-{attempt}")  # gunicorn's path
        assert (status, headers["retry-after"]) == (503, "5"), content
        _assert_unavailable(browser.get("/"))  # a plain Django view (the session is read)

        async def websocket_connect():
            stream = WebsocketCommunicator(
                application,
                "/ws/events/",
                headers=[
                    (b"host", b"127.0.0.1"),
                    (b"origin", b"http://127.0.0.1"),
                    (b"cookie", cookie),
                ],
            )
            connected, _ = await stream.connect(timeout=5)
            assert connected
            closed = await stream.receive_output(timeout=5)
            assert closed == {"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER}

        async_to_sync(websocket_connect)()

    outage = [r for r in caplog.records if r.name == "anpr.outage"]
    assert [r.levelname for r in outage] == ["WARNING"]
    assert not [r for r in caplog.records if r.exc_info], "no traceback per request"

    database_address.restore()
    assert api.get("/api/events/").status_code == 200  # back without a restart
    assert post_read(key, camera, "back-1")[0] == 201
    outage = [r for r in caplog.records if r.name == "anpr.outage"]
    assert [r.levelname for r in outage] == ["WARNING", "INFO"]


@pytest.mark.urls("anpr.tests.urls")
def test_a_database_error_of_a_live_connection_is_a_500_with_its_traceback(
    database_address, caplog
):
    """psycopg's "the cursor is closed" is an InterfaceError without a SQLSTATE, as a lost
    connection's errors are, but it is a bug: a 500 logged with its traceback, not an outage."""
    client = Client(raise_request_exception=False)
    response = client.get("/api/test-closed-cursor/")
    assert response.status_code == 500, response.content
    assert response.json()["code"] == "server_error"
    assert not [r for r in caplog.records if r.name == "anpr.outage"]
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and "the cursor is closed" in str(logged[-1].exc_info[1])


def test_ready_answers_within_seconds_when_the_database_does_not_answer(
    database_address, unanswering_server, client, settings
):
    settings.REDIS_URL = ""
    database_address.move("127.0.0.1", unanswering_server)
    started = time.monotonic()
    response = client.get("/ready")
    assert time.monotonic() - started < 3
    assert response.status_code == 503
    assert response.json()["checks"]["database"] != "ok"


def test_ready_answers_within_seconds_when_redis_does_not_answer(
    unanswering_server, client, settings
):
    settings.REDIS_URL = f"redis://127.0.0.1:{unanswering_server}/0"
    started = time.monotonic()
    response = client.get("/ready")
    assert time.monotonic() - started < 2
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == "ok" and checks["redis"] != "ok"
