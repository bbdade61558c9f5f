"""exporters/transport.py with real local receivers and exact answers: how each outcome is
classified, the bounds (a receiver that never answers, a body that never ends), where a URL is
sent (default ports, IPv6, the checked address) and which addresses pass."""

import ipaddress
import os
import socket
import threading
import time
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from conftest import require_service
from exporters import transport
from exporters.tests.sink import Reply, Sink
from exporters.transport import (
    DestinationRefused,
    ResolveFailed,
    address_allowed,
    destination_resolve,
    request_send,
)

BODY = b'{"delivery_id":"d-1"}'


def send(url: str, *, timeout: float = 5.0, method: str = "POST", headers=None):
    return request_send(url=url, method=method, headers=headers or {}, body=BODY, timeout=timeout)


class RawReceiver:
    """A TCP listener on 127.0.0.1 whose `serve(connection)` writes whatever it likes (or
    nothing): receivers that misbehave below HTTP."""

    def __init__(self, serve):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.connections: list[socket.socket] = []
        self.done = threading.Event()
        self._serve = serve
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        try:
            connection, _ = self.listener.accept()
        except OSError:
            return
        self.connections.append(connection)
        try:
            self._serve(connection, self)
        except OSError:
            pass  # the client went away
        finally:
            self.done.set()

    def close(self):
        self.done.set()
        for connection in self.connections:
            connection.close()
        self.listener.close()


@pytest.fixture
def raw_receiver():
    made = []

    def make(serve):
        made.append(RawReceiver(serve))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


# Which addresses pass --------------------------------------------------------------------


def test_an_ipv4_mapped_address_is_judged_as_its_ipv4_address(settings):
    settings.EXPORTER_ALLOWED_NETWORKS = [ipaddress.ip_network("10.20.0.0/16")]
    assert address_allowed(ipaddress.ip_address("::ffff:10.20.3.4"))
    assert address_allowed(ipaddress.ip_address("10.20.3.4"))
    assert not address_allowed(ipaddress.ip_address("::ffff:10.21.3.4"))
    assert not address_allowed(ipaddress.ip_address("::ffff:127.0.0.1"))
    settings.EXPORTER_ALLOWED_NETWORKS = [ipaddress.ip_network("169.254.0.0/16")]
    assert not address_allowed(ipaddress.ip_address("::ffff:169.254.169.254"))
    assert address_allowed(ipaddress.ip_address("::ffff:169.254.1.1"))


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.215.14", True),
        ("2606:4700:4700::1111", True),
        ("224.0.0.1", False),  # multicast, although Python counts it as global
        ("ff0e::1", False),
        ("fd00:ec2::254", False),
        ("100.100.100.200", False),
    ],
)
def test_public_unicast_addresses_pass_and_others_do_not(settings, address, allowed):
    settings.EXPORTER_ALLOWED_NETWORKS = []
    assert address_allowed(ipaddress.ip_address(address)) is allowed


def test_an_allowed_network_never_lets_a_metadata_address_through(settings):
    settings.EXPORTER_ALLOWED_NETWORKS = [
        ipaddress.ip_network("169.254.0.0/16"),
        ipaddress.ip_network("100.64.0.0/10"),
        ipaddress.ip_network("fd00::/8"),
    ]
    for metadata in ("169.254.169.254", "100.100.100.200", "fd00:ec2::254"):
        assert not address_allowed(ipaddress.ip_address(metadata))
    assert address_allowed(ipaddress.ip_address("100.64.0.1"))


# Where a URL is sent ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://127.0.0.1/hook", ("127.0.0.1", 443, "127.0.0.1")),
        ("http://127.0.0.1/hook", ("127.0.0.1", 80, "127.0.0.1")),
        ("https://127.0.0.1:8443/", ("127.0.0.1", 8443, "127.0.0.1")),
        ("http://127.0.0.1:443/", ("127.0.0.1", 443, "127.0.0.1")),
        ("HTTPS://127.0.0.1/", ("127.0.0.1", 443, "127.0.0.1")),
    ],
)
def test_the_port_is_the_schemes_default_unless_given(url, expected):
    assert destination_resolve(url) == expected


def test_a_name_resolves_to_its_first_allowed_address(settings):
    assert destination_resolve("http://localhost:8080/") == ("localhost", 8080, "127.0.0.1")
    settings.EXPORTER_ALLOWED_NETWORKS = [ipaddress.ip_network("::1/128")]
    if "::1" in {info[4][0] for info in socket.getaddrinfo("localhost", 80)}:
        assert destination_resolve("http://localhost/") == ("localhost", 80, "::1")


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/hook", "http:///hook", "127.0.0.1/hook", "file:///etc/passwd"]
)
def test_only_http_urls_with_a_host_are_sent(url, sink):
    with pytest.raises(DestinationRefused):
        destination_resolve(url)
    result = send(url)
    assert (result.status_code, result.retryable) == (None, False)
    assert result.error == "Only http:// and https:// URLs with a host are sent to."


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:99999/hook", "http://127.0.0.1:http/hook", "http://127.0.0.1:0/"]
)
def test_a_url_with_an_impossible_port_is_refused_not_an_error(url):
    result = send(url)
    assert (result.status_code, result.retryable) == (None, False)
    assert result.error == "The URL's port must be a number from 1 to 65535."


def test_a_header_value_that_cannot_be_sent_is_a_permanent_failure(sink):
    result = send(sink.url, headers={"X-Site": " north"})  # leading space: requests refuses
    assert (result.status_code, result.retryable) == (None, False)
    assert result.error == "Request failed: InvalidHeader"
    assert sink.received == []


def test_a_refused_address_is_permanent_and_nothing_is_sent(sink, settings):
    settings.EXPORTER_ALLOWED_NETWORKS = []
    with pytest.raises(DestinationRefused):
        destination_resolve(sink.url)
    result = send(sink.url)
    assert (result.status_code, result.retryable) == (None, False)
    assert "refused" in result.error and "EXPORTER_ALLOWED_NETWORKS" in result.error
    assert sink.received == []


def test_a_dns_failure_is_retryable_not_permanent():
    url = "http://no-such-receiver.invalid/hook"  # .invalid never resolves (RFC 6761)
    with pytest.raises(ResolveFailed):
        destination_resolve(url)
    result = send(url)
    assert (result.status_code, result.retryable) == (None, True)
    assert result.error.startswith("Cannot resolve no-such-receiver.invalid: ")


@pytest.fixture
def sink6(settings):
    try:
        server = Sink(host="::1")
    except OSError as error:
        require_service("IPv6 loopback", str(error))
    settings.EXPORTER_ALLOWED_NETWORKS = [ipaddress.ip_network("::1/128")]
    yield server
    server.stop()


def test_an_ipv6_receiver_gets_a_bracketed_url_and_host(sink6):
    result = send(sink6.url)
    assert (result.status_code, result.error) == (200, "")
    [request] = sink6.received
    assert request.path == "/hook"
    assert request.headers["Host"] == f"[::1]:{sink6.port}"
    assert destination_resolve("https://[::1]/") == ("::1", 443, "::1")


# Outcomes --------------------------------------------------------------------------------


def test_a_delivery_reaches_the_checked_address_with_its_host_headers_and_body(sink):
    result = send(sink.url, method="PUT", headers={"X-Test": "1"})
    assert (result.status_code, result.error, result.retryable, result.retry_after) == (
        200,
        "",
        None,
        None,
    )
    assert result.ok and 0 <= result.response_ms < 5000
    with pytest.raises(FrozenInstanceError):  # an outcome is recorded as it was
        result.error = "changed"
    [request] = sink.received
    assert (request.method, request.path, request.body) == ("PUT", "/hook", BODY)
    assert request.headers["Host"] == f"127.0.0.1:{sink.port}"
    assert request.headers["X-Test"] == "1"


def test_a_host_name_is_sent_to_its_checked_address_and_kept_in_host(sink):
    send(f"http://localhost:{sink.port}/a/b?x=1&y=2#fragment")
    send(f"http://localhost:{sink.port}")
    first, second = sink.received
    assert first.headers["Host"] == f"localhost:{sink.port}"
    assert (first.path, second.path) == ("/a/b?x=1&y=2", "/")


@pytest.mark.parametrize(
    ("status", "body", "error", "retryable"),
    [
        (200, b"ok", "", None),
        (204, b"", "", None),
        (299, b"ok", "", None),
        (400, b"bad field", "HTTP 400: bad field", False),
        (404, b"", "HTTP 404", False),
        (408, b"slow", "HTTP 408: slow", True),
        (409, b"", "HTTP 409", False),
        (425, b"", "HTTP 425", True),
        (429, b"", "HTTP 429", True),
        (499, b"", "HTTP 499", False),
        (500, b"  boom \n", "HTTP 500: boom", True),
        (503, b"\xffdown", "HTTP 503: \ufffddown", True),
        (599, b"", "HTTP 599", True),
    ],
)
def test_each_answer_is_classified(sink, status, body, error, retryable):
    sink.replies = [Reply(status, body=body)]
    result = send(sink.url)
    assert (result.status_code, result.error, result.retryable) == (status, error, retryable)
    assert result.ok is (retryable is None)


@pytest.mark.parametrize("status", [300, 302, 307, 399])
def test_a_redirect_is_not_followed(sink, status):
    location = "http://169.254.169.254/latest/" + "x" * 300
    sink.replies = [Reply(status, headers={"Location": location})]
    result = send(sink.url)
    assert (result.status_code, result.retryable) == (status, False)
    assert result.error == f"HTTP {status} redirect to {location[:200]!r} not followed."
    assert len(sink.received) == 1


def test_a_redirect_without_a_location(sink):
    sink.replies = [Reply(301)]
    assert send(sink.url).error == "HTTP 301 redirect to '' not followed."


def _http_date(delta: timedelta) -> str:
    return format_datetime(datetime.now(UTC) + delta, usegmt=True)


@pytest.mark.parametrize(
    ("value", "low", "high"),
    [
        ("7", 7.0, 7.0),
        ("  7  ", 7.0, 7.0),
        ("0", 0.0, 0.0),
        (lambda: _http_date(timedelta(seconds=120)), 100.0, 121.0),
        (lambda: _http_date(-timedelta(hours=1)), 0.0, 0.0),
        ("soon", None, None),
        ("-5", None, None),
        ("Wed, 21 Oct 2015 07:28:00 -0000", None, None),  # a date without a zone
    ],
)
def test_retry_after_in_seconds_or_as_a_date(sink, value, low, high):
    value = value() if callable(value) else value
    sink.replies = [Reply(503, headers={"Retry-After": value})]
    result = send(sink.url)
    assert result.retryable is True
    if low is None:
        assert result.retry_after is None
    else:
        assert low <= result.retry_after <= high


@pytest.mark.parametrize(("status", "retryable"), [(200, None), (404, False), (302, False)])
def test_retry_after_is_ignored_when_no_retry_follows(sink, status, retryable):
    sink.replies = [Reply(status, headers={"Retry-After": "7"})]
    result = send(sink.url)
    assert (result.retryable, result.retry_after) == (retryable, None)


def test_a_closed_port_is_a_retryable_connection_failure():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
    result = send(f"http://127.0.0.1:{port}/hook")
    assert (result.status_code, result.retryable) == (None, True)
    assert result.error.startswith("Connection failed: ") and len(result.error) <= 500
    # the cause, not requests' wrapper around it
    assert "Connection refused" in result.error and "Max retries" not in result.error


def test_a_body_cut_short_still_classifies_by_status(raw_receiver):
    def serve(connection, receiver):
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 100\r\n\r\nshort")
        connection.close()

    result = send(raw_receiver(serve).url)
    assert (result.status_code, result.error, result.retryable) == (502, "HTTP 502", True)


# Bounds ----------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_a_receiver_that_never_answers_times_out_within_the_timeout(raw_receiver):
    receiver = raw_receiver(lambda connection, receiver: receiver.done.wait(60))
    started = time.monotonic()
    result = send(receiver.url, timeout=0.5)
    assert time.monotonic() - started < 3 and 450 <= result.response_ms < 3000
    assert (result.status_code, result.retryable) == (None, True)
    assert result.error == "Timed out after 0.5 s."


@pytest.mark.timeout(30)
@pytest.mark.parametrize("cap", [1000, 100_000])  # below and above the size of one read
def test_a_body_that_never_ends_is_cut_at_the_cap(raw_receiver, settings, cap):
    settings.EXPORTER_RESPONSE_MAX_BYTES = cap

    def serve(connection, receiver):
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 4096
        while not receiver.done.is_set():
            connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))

    receiver = raw_receiver(serve)
    started = time.monotonic()
    result = send(receiver.url, timeout=5)
    assert time.monotonic() - started < 5
    assert (result.status_code, result.retryable) == (500, True)
    assert result.error == "HTTP 500: " + "x" * 200
    assert receiver.done.wait(10), "the connection was not closed after the cap"


@pytest.mark.parametrize(("cap", "error"), [(0, "HTTP 500"), (50, "HTTP 500: " + "y" * 50)])
def test_the_excerpt_is_never_longer_than_the_cap(sink, settings, cap, error):
    settings.EXPORTER_RESPONSE_MAX_BYTES = cap
    sink.replies = [Reply(500, body=b"y" * 100_000)]
    assert send(sink.url).error == error


# The connection pool ---------------------------------------------------------------------


def test_a_forked_process_makes_a_session_of_its_own():
    """A worker forked from a process with a session must not share its connections."""
    parent = transport.session()
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(write_end, b"own" if transport.session() is not parent else b"shared")
        os._exit(0)
    os.waitpid(child, 0)
    assert os.read(read_end, 16) == b"own"
    assert transport.session() is parent


def test_one_session_per_process_that_ignores_proxies_from_the_environment(sink, monkeypatch):
    assert transport.session() is transport.session()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        dead_proxy = f"http://127.0.0.1:{listener.getsockname()[1]}"
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, dead_proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert send(sink.url).status_code == 200


# Slowest last (the mutation run stops at the first failure) ---------------------------


@pytest.fixture
def unreachable_port():
    """A port whose connections are never accepted: its listen queue is full, so the kernel
    drops further connection attempts (as a firewall that drops packets would)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.1)
    yield port
    for filler in fillers:
        filler.close()
    listener.close()


@pytest.mark.timeout(30)
def test_connecting_gives_up_after_the_timeout_or_five_seconds(unreachable_port):
    url = f"http://127.0.0.1:{unreachable_port}/hook"
    started = time.monotonic()
    result = send(url, timeout=0.5)
    assert time.monotonic() - started < 2
    assert (result.retryable, result.error) == (True, "Timed out after 0.5 s.")
    started = time.monotonic()
    result = send(url, timeout=10)  # the connection itself never waits more than 5 s
    assert 4.5 < time.monotonic() - started < 5.9
    assert result.retryable is True
