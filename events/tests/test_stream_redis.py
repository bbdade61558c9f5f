"""The live stream /ws/events/ on the real ASGI application, on whichever channel layer the
settings choose (in-memory embedded, channels-redis with REDIS_URL): over Redis, across web
processes.

Each test runs one coroutine with async_to_sync, so the consumer, the channel layer and the
test share one event loop, and database work from inside it runs in the test's thread.
"""

import asyncio
import json
import uuid

import pytest
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer

from conftest import require_service
from core.channel_layer_adapter import group_member_count
from events import broadcast
from events.broadcast import EVENTS_GROUP, NOBODY_LISTENING_RECHECK
from events.consumers import (
    ProcessFanOut,
)

from .stream import (
    alive,
    ingest,
    next_frame,
    open_stream,
    read,
    receive_briefly,
    run,
)

# Broadcasts happen on commit, so these tests need real transactions.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def layer_elsewhere(settings, redis_url):
    """This process on a Redis channel layer of its own (a fresh key prefix), and a maker of
    layer objects standing for daphne processes elsewhere, joined via the same Redis."""
    prefix = f"anpr-test-{uuid.uuid4().hex[:8]}"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url], "prefix": prefix, "capacity": 100, "expiry": 30},
        }
    }
    return lambda: RedisChannelLayer(hosts=[redis_url], prefix=prefix)


@pytest.mark.redis
def test_over_redis_an_event_reaches_clients_of_every_web_process(site, layer_elsewhere):

    async def scenario():
        first, second = await open_stream(site["headers"]), await open_stream(site["headers"])
        # A layer object of its own stands for a daphne process elsewhere, joined via Redis.
        elsewhere = layer_elsewhere()
        channel = await elsewhere.new_channel()
        await elsewhere.group_add(EVENTS_GROUP, channel)
        try:
            await ingest(site["device"], read(site["gate"], "SHARED1"))
            for communicator in (first, second):
                assert (await next_frame(communicator))["event"]["plate"] == "SHARED1"
            message = await receive_briefly(elsewhere, channel)
            assert message["type"] == "events.created"
            assert '"SHARED1"' in message["frames"][0]["text"]
        finally:
            await elsewhere.group_discard(EVENTS_GROUP, channel)
            await elsewhere.close_pools()
            await first.disconnect()
            await second.disconnect()

    run(scenario)


@pytest.mark.redis
def test_over_redis_a_web_process_is_one_group_member_however_many_clients_it_serves(
    site, layer_elsewhere
):
    # A stored read costs one layer message per web process, not one per open map: the
    # process's clients share one membership (ProcessFanOut), and leave it with the last one.
    async def scenario():
        layer = get_channel_layer()
        streams = [await open_stream(site["headers"]) for _ in range(3)]
        try:
            assert await group_member_count(layer=layer, group=EVENTS_GROUP) == 1
            # Nor does a client receive from the layer itself (channel_layer_alias = None).
            consumers = ProcessFanOut.current().consumers
            assert [consumer.channel_layer for consumer in consumers] == [None] * 3
            await ingest(site["device"], read(site["gate"], "MANY1"))
            for communicator in streams:
                assert (await next_frame(communicator))["event"]["plate"] == "MANY1"
        finally:
            for communicator in streams:
                await communicator.disconnect()
        assert await group_member_count(layer=layer, group=EVENTS_GROUP) == 0

    run(scenario)


@pytest.mark.redis
def test_over_redis_reads_stored_within_the_send_interval_share_one_layer_message(
    site, settings, layer_elsewhere, monkeypatch
):
    # A group_send costs the same for one frame or a hundred: a process sends at most once per
    # LIVE_SEND_INTERVAL; the first read goes at once, the ones stored meanwhile go together.
    settings.LIVE_SEND_INTERVAL = 0.5
    # A sender of its own: one that earlier tests left waiting out a pause would hold FIRST1.
    monkeypatch.setattr(broadcast, "_sender_loop", broadcast._SenderLoop())

    async def scenario():
        elsewhere = layer_elsewhere()
        channel = await elsewhere.new_channel()
        await elsewhere.group_add(EVENTS_GROUP, channel)
        try:
            for plate in ("FIRST1", "NEXT1", "NEXT2", "NEXT3"):
                await ingest(site["device"], read(site["gate"], plate))
            messages = []
            while sum(len(plates) for plates in messages) < 4:
                message = await receive_briefly(elsewhere, channel, timeout=2)
                assert message["type"] == "events.created"
                messages.append(
                    [json.loads(f["text"])["event"]["plate"] for f in message["frames"]]
                )
            # (FIRST1 waits too if this process sent something within the last interval.)
            assert messages in (
                [["FIRST1"], ["NEXT1", "NEXT2", "NEXT3"]],
                [["FIRST1", "NEXT1", "NEXT2", "NEXT3"]],
            )
        finally:
            await elsewhere.group_discard(EVENTS_GROUP, channel)
            await elsewhere.close_pools()

    run(scenario)


@pytest.mark.redis
def test_over_redis_an_alert_is_not_held_back_by_the_send_interval(
    site, settings, layer_elsewhere, monkeypatch
):
    # Hits are alerts: a frame of a prompt kind ends the sender's wait at once, and what was
    # waiting goes with it.
    settings.LIVE_SEND_INTERVAL = 3
    monkeypatch.setattr(broadcast, "_sender_loop", broadcast._SenderLoop())
    hit = broadcast.live_frame(
        kind="hit", body={"hit": {"id": "h1"}}, camera=site["gate"].pk, zone=None
    )

    async def scenario():
        elsewhere = layer_elsewhere()
        channel = await elsewhere.new_channel()
        await elsewhere.group_add(EVENTS_GROUP, channel)
        try:
            await ingest(site["device"], read(site["gate"], "FIRST1"))
            assert (await receive_briefly(elsewhere, channel, timeout=2))["type"] == (
                "events.created"
            )
            await ingest(site["device"], read(site["gate"], "NEXT1"))  # waits out the interval
            broadcast.broadcast_frames(kind="hit", frames=[hit])
            waiting = await receive_briefly(elsewhere, channel, timeout=1.5)
            alert = await receive_briefly(elsewhere, channel, timeout=0.5)
            assert json.loads(waiting["frames"][0]["text"])["event"]["plate"] == "NEXT1"
            assert alert["type"] == "live.hit" and alert["frames"][0]["text"] == hit["text"]
        finally:
            await elsewhere.group_discard(EVENTS_GROUP, channel)
            await elsewhere.close_pools()

    run(scenario)


@pytest.mark.redis
def test_over_redis_no_frame_is_built_while_no_process_listens_and_a_joiner_gets_the_next(
    site, layer_elsewhere, monkeypatch
):
    # With no live map open anywhere, a stored read costs no frame and no send (about a tenth
    # of a single-read ingest's CPU). A process that joins later gets the reads stored after
    # it joined; those stored before are in the list a map loads when it connects.
    looks, built = [], []
    anyone_listening, frame = broadcast._anyone_listening, broadcast._frame

    async def recorded_look():
        looks.append(await anyone_listening())
        return looks[-1]

    def recorded_frame(event, *args):
        built.append(event.plate)
        return frame(event, *args)

    monkeypatch.setattr(broadcast, "_anyone_listening", recorded_look)
    monkeypatch.setattr(broadcast, "_frame", recorded_frame)
    monkeypatch.setattr(broadcast, "_sender_loop", broadcast._SenderLoop())  # no earlier looks

    async def scenario():
        await ingest(site["device"], read(site["gate"], "ALONE1"))
        for _ in range(100):  # until the sender has looked (it may be waiting out a recheck)
            if looks:
                break
            await asyncio.sleep(0.02)
        assert looks == [False] and built == []
        elsewhere = layer_elsewhere()
        channel = await elsewhere.new_channel()
        await elsewhere.group_add(EVENTS_GROUP, channel)
        try:
            await ingest(site["device"], read(site["gate"], "JOINED1"))
            message = await asyncio.wait_for(
                elsewhere.receive(channel), timeout=NOBODY_LISTENING_RECHECK + 2
            )
            assert [json.loads(f["text"])["event"]["plate"] for f in message["frames"]] == [
                "JOINED1"
            ]
            assert looks == [False, True] and built == ["JOINED1"]
        finally:
            await elsewhere.group_discard(EVENTS_GROUP, channel)
            await elsewhere.close_pools()

    run(scenario)


@pytest.mark.redis
def test_over_redis_a_quiet_stream_stays_open_and_delivers(site, settings, redis_url):
    # redis-py 8 ends a read after 5 s, the length of channels-redis's blocking pop: a stream
    # quiet that long lost its consumers (closed 1011) until the settings gave a longer one.
    if "RedisChannelLayer" not in settings.CHANNEL_LAYERS["default"]["BACKEND"]:
        require_service("Redis channel layer", "these settings have no REDIS_URL")

    async def scenario():
        communicator = await open_stream(site["headers"])
        assert await communicator.receive_nothing(timeout=6.5)  # no close, no error
        assert await alive(communicator)
        await ingest(site["device"], read(site["gate"], "QUIET1"))
        assert (await next_frame(communicator))["event"]["plate"] == "QUIET1"
        await communicator.disconnect()

    run(scenario)


def test_a_lost_group_membership_is_renewed(site, monkeypatch):
    # Channel layers end old memberships (group_expiry) and those of a channel that let a
    # message expire; the process's membership outlives both, so it renews itself.
    monkeypatch.setattr(ProcessFanOut, "renew_every", 0.05)

    async def scenario():
        communicator = await open_stream(site["headers"])
        fan_out = ProcessFanOut.current()
        await get_channel_layer().group_discard(EVENTS_GROUP, fan_out.channel)  # as expiry does
        await asyncio.sleep(0.3)
        await ingest(site["device"], read(site["gate"], "BACK1"))
        assert (await next_frame(communicator))["event"]["plate"] == "BACK1"
        await communicator.disconnect()

    run(scenario)
