"""The live stream when things fail: Redis killed and restarted empty under open streams, and
consumers that end without their disconnect. On the real ASGI application, with a
`redis-server` of the test's own where Redis is killed."""

import asyncio
import shutil
import time

import pytest
from prometheus_client import REGISTRY

from anpr.tests.servers import RedisServer
from cameras.services import device_create
from cameras.tests.factories import CameraFactory
from conftest import require_service
from core.outage import CLOSE_TRY_AGAIN_LATER
from events import broadcast
from events.consumers import CLOSE_STREAM_INTERRUPTED, ProcessFanOut

from .stream import ingest, open_stream, read, run, session_headers

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def own_redis(settings, tmp_path, monkeypatch):
    """A redis-server of the test's own as this process's channel layer (as production sets it
    up), and a sender of its own (the process's one may hold an earlier test's layer)."""
    if shutil.which("redis-server") is None:
        require_service("redis-server", "the binary is not installed")
    server = RedisServer(tmp_path)
    server.start()
    layer = {"BACKEND": "channels_redis.core.RedisChannelLayer"}
    layer["CONFIG"] = {
        "hosts": [{"address": server.url, **settings.CHANNEL_REDIS_OPTIONS}],
        "capacity": 100,
        "expiry": 30,
        "group_expiry": 180,
    }
    settings.CHANNEL_LAYERS = {"default": layer}
    monkeypatch.setattr(broadcast, "_sender_loop", broadcast._SenderLoop())
    yield server
    if server.process.poll() is None:
        server.kill()


@pytest.fixture
def gate(viewer):
    camera = CameraFactory(slug="gate")
    device, _ = device_create(name="edge-1", cameras=[camera])
    return {"camera": camera, "device": device, "headers": session_headers(viewer)}


def _open_streams() -> float:
    return REGISTRY.get_sample_value("anpr_websocket_connections") or 0


async def _closed_with(communicator, timeout: float) -> int:
    message = await communicator.receive_output(timeout=timeout)
    assert message["type"] == "websocket.close", message
    return message["code"]


def test_after_redis_restarts_empty_a_stream_is_closed_to_catch_up_and_new_reads_arrive(
    own_redis, gate
):
    # Before: the stream stayed open and silent (its process out of the emptied group until
    # the next renewal, a minute later), so the map never fetched the reads of the gap.
    opened_before = _open_streams()

    async def scenario():
        stream = await open_stream(gate["headers"])
        await ingest(gate["device"], read(gate["camera"], "BEFORE1"))
        assert (await stream.receive_json_from(timeout=5))["event"]["plate"] == "BEFORE1"

        own_redis.kill()
        assert await _closed_with(stream, timeout=20) == CLOSE_STREAM_INTERRUPTED
        await stream.disconnect()
        assert _open_streams() == opened_before
        fan_out = ProcessFanOut.current()
        assert (fan_out.consumers, fan_out.channel) == (set(), None)

        # While Redis is away a client is told to come back later, not left silent.
        refused = await open_stream(gate["headers"])
        assert await _closed_with(refused, timeout=20) == CLOSE_TRY_AGAIN_LATER
        await refused.disconnect()

        own_redis.start()  # empty: no group, no membership
        reconnected_at = time.monotonic()
        again = await open_stream(gate["headers"])
        await ingest(gate["device"], read(gate["camera"], "AFTER1"))
        assert (await again.receive_json_from(timeout=10))["event"]["plate"] == "AFTER1"
        assert time.monotonic() - reconnected_at < 10
        await again.disconnect()
        assert _open_streams() == opened_before

    run(scenario)


def test_a_stream_that_ends_without_its_disconnect_leaves_the_count_and_the_group(gate):
    # daphne cancels an application that outlives its connection (and all of them when it
    # stops); before, such a consumer stayed counted and in the fan-out for ever.
    opened_before = _open_streams()

    async def scenario():
        stream = await open_stream(gate["headers"])
        assert _open_streams() == opened_before + 1
        stream.future.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stream.future
        assert _open_streams() == opened_before
        fan_out = ProcessFanOut.current()
        assert (fan_out.consumers, fan_out.channel) == (set(), None)

    run(scenario)
