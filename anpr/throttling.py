"""Rate limits of the API. Ingest is limited per edge device, so one misbehaving box (a
retry loop, a replay of a week offline) cannot starve the others."""

import logging
import os
import time

import redis
from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


class _RedisCounter:
    """One Redis client per process (DRF's cache-backed throttle builds a client and makes two
    round trips per request; this makes one)."""

    def __init__(self):
        self._client = None
        self._pid = 0

    def incr(self, key: str, ttl: int) -> int:
        if self._client is None or self._pid != os.getpid():
            self._client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
            self._pid = os.getpid()
        pipe = self._client.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, ttl)
        count, _ = pipe.execute()
        return count


_redis_counter = _RedisCounter()


def _count(key: str, ttl: int) -> int:
    if settings.REDIS_URL:
        try:
            return _redis_counter.incr(key, ttl)
        except redis.RedisError:
            # A Redis outage must not stop devices from reporting: count nothing, let it in.
            logger.warning("Ingest throttle could not reach Redis; request allowed.")
            return 0
    cache.add(key, 0, ttl)  # embedded mode: the process's own cache
    return cache.incr(key)


class DeviceIngestThrottle(BaseThrottle):
    """INGEST_THROTTLE_RATE requests per device (e.g. "1200/min"; empty: no limit), counted
    in fixed windows of that period (a burst across a window's edge may reach twice the
    rate). A refused request gets 429 JSON with Retry-After; a batch counts as one request."""

    def allow_request(self, request, view):
        rate = settings.INGEST_THROTTLE_RATE  # read per request: the environment/tests set it
        device = getattr(request.user, "device", None)
        if not rate or device is None:
            return True  # not a device: authentication and permissions answer it
        allowed, unit = rate.split("/")
        period = _PERIODS[unit]
        now = time.time()
        window = int(now // period)
        # The creation time keeps a recreated database from inheriting an old device's count.
        key = f"throttle:ingest:{device.pk}-{device.created_at.timestamp():.6f}:{window}"
        if _count(key, period + 1) <= int(allowed):
            return True
        self._wait = period - (now % period)
        return False

    def wait(self):
        return getattr(self, "_wait", None)
