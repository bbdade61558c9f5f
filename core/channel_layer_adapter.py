"""What the channel layer's public API cannot tell: how many channels are in a group now.

A sender of the live stream (events.broadcast) skips building frames while no web process
listens, and the channel-layer API has no "who is in this group". channels-redis keeps a
group as a sorted set of channel → time (re)joined, on the shard its consistent hash picks,
under its `_group_key`, and counts a membership as ended group_expiry seconds after it was
(re)joined. This is the one module that reads those internals;
core/tests/test_channel_layer_adapter.py checks them against channels-redis's public
group_add and group_discard on a real Redis, so an upgrade that changes them fails there.
"""

import time

from channels.layers import BaseChannelLayer
from channels_redis.core import RedisChannelLayer


async def group_member_count(*, layer: BaseChannelLayer, group: str) -> int | None:
    """The channels in `group` whose membership has not expired, on a Redis channel layer;
    None on any other layer (which cannot be asked)."""
    if not isinstance(layer, RedisChannelLayer):
        return None
    connection = layer.connection(layer.consistent_hash(group))
    joined_after = int(time.time()) - layer.group_expiry
    return await connection.zcount(layer._group_key(group), f"({joined_after}", "+inf")
