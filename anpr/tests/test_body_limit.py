"""Request bodies are held to EVENT_UPLOAD_MAX_BYTES before anything reads them, under WSGI
(gunicorn, runserver: anpr.wsgi), ASGI (anpr.asgi) and daphne itself (anpr.daphne_server),
whoever sends them."""

import asyncio
import io
import json
import socket
import sys

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from anpr.tests.servers import SERVERS, serving

LIMIT = 64 * 1024
CHUNK = 16 * 1024
URLS = ["/api/events/ingest/", "/api/zones/", "/admin/login/", "/login/"]

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def small_limit(settings):
    settings.EVENT_UPLOAD_MAX_BYTES = LIMIT


class EndlessBody(io.RawIOBase):
    """A request body that never ends; counts what was read of it."""

    def __init__(self):
        self.read_bytes = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        self.read_bytes += len(buffer)
        buffer[:] = b"x" * len(buffer)
        return len(buffer)


class Unreadable(io.RawIOBase):
    def readable(self):
        return True

    def readinto(self, buffer):
        raise AssertionError("the body was read")


def wsgi_post(path, *, body_stream, headers) -> tuple[int, dict, bytes]:
    from anpr.wsgi import application

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": body_stream,
        "wsgi.errors": sys.stderr,
        "CONTENT_TYPE": "application/json",
        **headers,
    }
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(response_headers)

    content = b"".join(application(environ, start_response))
    return answer["status"], answer["headers"], content


def asgi_post(path, *, receive, headers=()) -> tuple[int, bytes]:
    from anpr.asgi import application

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent = []

    async def send(message):
        sent.append(message)

    async_to_sync(application)(scope, receive, send)
    [start] = [m for m in sent if m["type"] == "http.response.start"]
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body


def assert_too_large(status, content):
    assert status == 413
    assert json.loads(content) == {
        "detail": f"The body is larger than {LIMIT} bytes.",
        "code": "too_large",
    }


@pytest.mark.parametrize("path", URLS)
def test_wsgi_refuses_a_declared_length_over_the_limit_unread(path):
    status, headers, content = wsgi_post(
        path, body_stream=Unreadable(), headers={"CONTENT_LENGTH": str(200 * 1024 * 1024)}
    )
    assert_too_large(status, content)
    assert headers["Content-Type"] == "application/json"


def test_wsgi_never_reads_a_body_without_a_declared_length(device_with_key, camera):
    """gunicorn hands Django a chunked body without CONTENT_LENGTH: Django reads none of it
    (a device must declare its body's length)."""
    _, key = device_with_key
    endless = EndlessBody()
    status, _, content = wsgi_post(
        "/api/events/ingest/",
        body_stream=endless,
        headers={"HTTP_AUTHORIZATION": f"Token {key}", "HTTP_TRANSFER_ENCODING": "chunked"},
    )
    assert status == 400 and b"empty" in content
    assert endless.read_bytes == 0


@pytest.mark.parametrize("path", URLS)
def test_asgi_refuses_a_declared_length_over_the_limit_before_reading(path):
    async def receive():
        raise AssertionError("the body was read")

    status, content = asgi_post(
        path, receive=receive, headers=[(b"content-length", str(200 * 1024 * 1024).encode())]
    )
    assert_too_large(status, content)


@pytest.mark.parametrize("path", URLS)
def test_asgi_stops_reading_a_chunked_body_at_the_limit(path):
    read = 0

    async def receive():  # a chunked body that never ends
        nonlocal read
        read += CHUNK
        assert read <= 10 * LIMIT, "read far past the limit"
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": True}

    status, content = asgi_post(path, receive=receive)
    assert_too_large(status, content)
    assert read <= LIMIT + CHUNK


def test_asgi_serves_a_chunked_body_under_the_limit(device_with_key, camera):
    _, key = device_with_key
    read = {"camera": camera.slug, "plate": "AB12CDE", "captured_at": timezone.now().isoformat()}
    body = json.dumps(read).encode()
    pieces = [body[:10], body[10:]]

    async def receive():
        if not pieces:  # the body is done: what comes next is the client going away
            await asyncio.Event().wait()
        piece = pieces.pop(0)
        return {"type": "http.request", "body": piece, "more_body": bool(pieces)}

    status, content = asgi_post(
        "/api/events/ingest/", receive=receive, headers=[(b"x-api-key", key.encode())]
    )
    assert status == 201, content


# --- Real servers -------------------------------------------------------------------------------


def raw_post(port: int, headers: bytes, body_pieces=()) -> bytes:
    """The whole answer to a POST to the ingest URL, read until the server closes (a server
    that waits for the body runs into the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(
            b"POST /api/events/ingest/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\n" + headers + b"\r\n"
        )
        try:
            for piece in body_pieces:
                connection.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: its answer is waiting
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
        return answer


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_a_real_server_answers_a_declared_length_over_the_limit_without_the_body(server):
    with serving(server, EVENT_UPLOAD_MAX_BYTES=str(LIMIT)) as port:
        answer = raw_post(port, b"Content-Length: 209715200\r\n")  # and no body at all
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b'"code": "too_large"' in answer


def test_daphne_stops_reading_a_chunked_body_at_the_limit():
    # (Under WSGI Django reads no chunked body at all: see test_wsgi_never_reads_...)
    piece = b"4000\r\n" + b"x" * 0x4000 + b"\r\n"  # 16 KiB chunks, 16 MiB in all
    chunked_and_close = b"Transfer-Encoding: chunked\r\nConnection: close\r\n"
    with serving("daphne", EVENT_UPLOAD_MAX_BYTES=str(LIMIT)) as port:
        answer = raw_post(port, b"Transfer-Encoding: chunked\r\n", [piece] * 1024)
        small = raw_post(port, chunked_and_close, [b"2\r\n{}\r\n0\r\n\r\n"])
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert small.startswith(b"HTTP/1.1 401 ")  # under the limit: served (no key: 401)
