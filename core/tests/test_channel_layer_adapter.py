"""core.channel_layer_adapter reads channels-redis's storage of groups: these tests hold it to
what channels-redis's public group_add, group_discard and group_send do on a real Redis, so a
channels-redis that stores groups differently fails here, not silently in production (the
live stream would then build frames for nobody, or none for an open map)."""

import asyncio
import time
import uuid

import pytest
import redis
from channels.layers import InMemoryChannelLayer
from channels_redis.core import RedisChannelLayer

from core.channel_layer_adapter import group_member_count

pytestmark = pytest.mark.redis


def _layer(*hosts: str, **config) -> RedisChannelLayer:
    prefix = f"anpr-test-{uuid.uuid4().hex[:8]}"
    return RedisChannelLayer(hosts=list(hosts), prefix=prefix, **config)


def _other_database(url: str) -> str:
    """The same Redis server, another database: a second shard for the layer."""
    base, _, number = url.rpartition("/")
    return f"{base}/{(int(number or 0) + 1) % 16}"


def test_a_channel_joined_with_group_add_is_counted_until_group_discard(redis_url):
    async def scenario():
        layer = _layer(redis_url)
        try:
            first, second = await layer.new_channel(), await layer.new_channel()
            assert await group_member_count(layer=layer, group="events.live") == 0
            await layer.group_add("events.live", first)
            await layer.group_add("events.live", second)
            await layer.group_add("other.group", first)
            assert await group_member_count(layer=layer, group="events.live") == 2
            await layer.group_discard("events.live", first)
            assert await group_member_count(layer=layer, group="events.live") == 1
            await layer.group_discard("events.live", second)
            assert await group_member_count(layer=layer, group="events.live") == 0
            assert await group_member_count(layer=layer, group="other.group") == 1
        finally:
            await layer.flush()
            await layer.close_pools()

    asyncio.run(scenario())


def test_a_membership_is_counted_exactly_while_group_send_delivers_to_it(redis_url):
    # channels-redis ends a membership group_expiry seconds after it was (re)joined; the count
    # must end it at the same moment: earlier, senders would skip frames an open map still
    # gets; later, they would build frames for nobody.
    async def scenario():
        layer = _layer(redis_url, group_expiry=2)
        try:
            ending, staying = await layer.new_channel(), await layer.new_channel()
            # group_send drops ended memberships, so it goes to a twin group, joined within the
            # same second (memberships end on whole seconds).
            while True:
                before = time.time()
                await layer.group_add("events.live", ending)
                await layer.group_add("events.twin", ending)
                if int(time.time()) == int(before):
                    break
            joined, seen = time.time(), []  # (members counted, `ending` got the next message)
            while time.time() - joined < 4 and (not seen or seen[-1] != (1, False)):
                for group in ("events.live", "events.twin"):  # keeps the groups' keys alive
                    await layer.group_add(group, staying)
                counted = await group_member_count(layer=layer, group="events.live")
                await layer.group_send("events.twin", {"type": "check"})
                try:
                    await asyncio.wait_for(layer.receive(ending), timeout=0.1)
                    seen.append((counted, True))
                except TimeoutError:
                    seen.append((counted, False))
                await layer.receive(staying)
            return seen
        finally:
            await layer.flush()
            await layer.close_pools()

    seen = asyncio.run(scenario())
    assert seen[0] == (2, True) and seen[-1] == (1, False)
    # Both end at once (a second's boundary may fall between the count and the send).
    assert seen.count((1, True)) + seen.count((2, False)) <= 1, seen


def test_each_group_is_counted_on_the_shard_group_add_wrote_it_to(redis_url):
    # With several Redis hosts, channels-redis puts each group on one of them.
    groups = [f"group.{n}" for n in range(16)]
    hosts = [redis_url, _other_database(redis_url)]

    async def scenario():
        layer = _layer(*hosts)
        try:
            channel = await layer.new_channel()
            for group in groups:
                await layer.group_add(group, channel)
            counts = [await group_member_count(layer=layer, group=group) for group in groups]
            # Both shards hold some of the groups, so the counts above looked at both.
            held = [len(redis.Redis.from_url(url).keys(f"{layer.prefix}*")) for url in hosts]
            return counts, held
        finally:
            await layer.flush()
            await layer.close_pools()

    counts, held = asyncio.run(scenario())
    assert counts == [1] * len(groups)
    assert all(held) and sum(held) == len(groups)


def test_other_layers_cannot_be_asked():
    async def scenario():
        layer = InMemoryChannelLayer()
        await layer.group_add("events.live", await layer.new_channel())
        return await group_member_count(layer=layer, group="events.live")

    assert asyncio.run(scenario()) is None
