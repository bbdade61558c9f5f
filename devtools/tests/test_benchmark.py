"""The benchmark commands stay where developers run them (manage.py), the fill step stores
what the benchmarks measure, and the pieces that read figures and frames read them right."""

import asyncio
import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command, get_commands
from django.db.models import Sum

from devtools.benchmark.servers import result_line_parse
from devtools.benchmark.stream_client import StreamClient
from events.models import EventStatistics, PlateEvent


def test_the_benchmark_commands_run_through_manage_py_from_the_devtools_app():
    commands = get_commands()
    for name in ("benchmark", "benchmark_live", "benchmark_exports", "benchmark_instructions"):
        assert commands[name] == "devtools", name


def test_the_production_image_leaves_the_development_tools_out():
    ignored = (settings.BASE_DIR / ".dockerignore").read_text().split()
    assert {"devtools", "tools"} <= set(ignored)


@pytest.mark.django_db(transaction=True)  # the fill vacuums, which no transaction allows
def test_fill_adds_events_up_to_the_count_rolled_up_and_not_twice():
    out = StringIO()
    call_command("benchmark", "fill", "--events", "300", "--days", "2", stdout=out)

    events = PlateEvent.objects.all()
    assert events.count() == 300
    assert {slug[:10] for slug in events.values_list("camera__slug", flat=True)} == {"bench-cam-"}
    oldest = events.order_by("captured_at").values_list("captured_at", flat=True)[0]
    assert oldest > datetime.now(UTC) - timedelta(days=2, minutes=1)
    assert EventStatistics.objects.aggregate(total=Sum("event_count"))["total"] == 300
    assert "300 events added" in out.getvalue()

    again = StringIO()
    call_command("benchmark", "fill", "--events", "300", stdout=again)
    assert PlateEvent.objects.count() == 300
    assert "0 to add" in again.getvalue()


def test_the_peer_is_measured_only_beside_the_ingest_step():
    with pytest.raises(CommandError, match="--peer"):
        call_command("benchmark", "queries", "--peer")


def test_a_result_line_is_read_into_figures_and_its_absence_is_an_error():
    output = "Running 3s test\n  2 threads\nRESULT req_per_s=512.5 p50_ms=3.1 non2xx=0\n"
    assert result_line_parse(output, source="wrk") == {
        "req_per_s": 512.5,
        "p50_ms": 3.1,
        "non2xx": 0.0,
    }
    with pytest.raises(CommandError, match="wrk printed no RESULT line"):
        result_line_parse("unable to connect", source="wrk")


class _Transport:
    """What the client writes, instead of a socket."""

    def __init__(self):
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return False


def _frame(opcode: int, payload: bytes) -> bytes:
    """A final, unmasked server frame."""
    if len(payload) < 126:
        return bytes((0x80 | opcode, len(payload))) + payload
    return bytes((0x80 | opcode, 126)) + len(payload).to_bytes(2) + payload


def test_the_stream_client_times_each_plate_also_across_split_and_long_frames():
    async def scenario():
        arrivals: list[tuple[str, float]] = []
        client = StreamClient(arrivals)
        transport = _Transport()
        client.connection_made(transport)
        accept = base64.b64encode(hashlib.sha1(client.key + StreamClient._GUID).digest())
        client.data_received(
            b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        assert client.opened.done() and client.opened.exception() is None

        short = _frame(0x1, json.dumps({"event": {"plate": "AB12CDE"}}).encode())
        long = _frame(0x1, json.dumps({"event": {"plate": "XY34ZZZ", "pad": "." * 300}}).encode())
        client.data_received(short + long[:50])  # the long frame arrives in two reads
        assert [plate for plate, _ in arrivals] == ["AB12CDE"]
        client.data_received(long[50:] + _frame(0x9, b"hi"))
        assert [plate for plate, _ in arrivals] == ["AB12CDE", "XY34ZZZ"]
        pong = transport.written[-1]
        assert pong[0] == 0x8A and pong[1] == 0x80 | 2  # a final, masked pong of two bytes
        mask = pong[2:6]
        assert bytes(b ^ mask[i % 4] for i, b in enumerate(pong[6:])) == b"hi"

    asyncio.run(scenario())


def test_the_stream_client_refuses_a_handshake_with_the_wrong_accept():
    async def scenario():
        client = StreamClient([])
        client.connection_made(_Transport())
        client.transport.close = lambda: None
        client.data_received(b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: x\r\n\r\n")
        with pytest.raises(ConnectionError):
            client.opened.result()

    asyncio.run(scenario())


@pytest.mark.django_db
def test_the_watchlist_benchmark_imports_and_matches():
    from devtools.benchmark.watchlists import watchlist_import_measure, watchlist_match_measure

    watchlist, figures = watchlist_import_measure(entries=200, budget=1)
    assert figures["created"] == 200 and watchlist.entries.count() == 200
    measured = watchlist_match_measure(plates=figures["plates"], reads=300)
    matched = measured["database"]  # no entry index inside a test's transaction
    assert "index" not in measured
    assert matched["reads_with_hits"] >= 3  # the listed 1%, read with an OCR confusion
    assert 0 < matched["p50_us"] <= matched["p99_us"]


def test_the_stream_client_of_one_frame_type_times_only_those_frames():
    async def scenario():
        arrivals: list[tuple[str, float]] = []
        client = StreamClient(arrivals, kind="hit")
        client.connection_made(_Transport())
        accept = base64.b64encode(hashlib.sha1(client.key + StreamClient._GUID).digest())
        client.data_received(
            b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        read = {"type": "event.created", "event": {"plate": "READ1"}}
        hit = {"type": "hit", "hit": {"id": "x", "plate": "HIT1"}}
        client.data_received(_frame(0x1, json.dumps(read).encode()))
        client.data_received(_frame(0x1, json.dumps(hit).encode()))
        assert [plate for plate, _ in arrivals] == ["HIT1"]

    asyncio.run(scenario())


@pytest.mark.django_db
def test_the_live_hits_benchmark_lists_a_tenth_of_its_plates_spread_evenly():
    from devtools.benchmark.live_hits import live_hits_plates
    from watchlists.models import Watchlist

    watchlist = Watchlist.objects.create(name="bench-live", match_strategy="exact")
    plates = live_hits_plates(watchlist=watchlist, reads=100, listed_share=0.1)
    listed = set(watchlist.entries.values_list("plate", flat=True))
    assert len(set(plates)) == 100 and listed == set(plates[::10])
