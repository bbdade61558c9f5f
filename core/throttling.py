"""Rate limits of the API. Ingest is limited per edge device, so one misbehaving box (a
retry loop, a replay of a week offline) cannot starve the others."""

import logging
import math
import time

import redis
from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle, UserRateThrottle

from core.redis_client import ProcessRedisConnection

logger = logging.getLogger("anpr.throttling")

_PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


#: Each process adds its requests to the shared count in Redis at least this often...
SYNC_SECONDS = 0.05
#: ...and whenever it holds this share of the limit unsent, so that with W processes a burst
#: may pass the limit by about W % (a limit under 100 is counted exactly, request by request).
SYNC_SHARE = 100


class _RedisCounter:
    """A round trip to Redis per SYNC_SECONDS or per 1% of the limit rather than per request:
    a device sending at a rate its limit allows is counted (nearly) request by request, and a
    busy one costs Redis a command now and then. Commands go on the process's own connection
    (core.redis_client says why not through redis.Redis). The first count of a window also
    sets the key's expiry."""

    def __init__(self):
        self.redis = ProcessRedisConnection(timeout=2)
        #: per device: [window key, requests not yet sent, total last read, when]
        self._windows: dict[str, list] = {}

    def count(self, key: str, ttl: int, limit: int) -> int:
        """The window's count, this request included, as far as this process knows it."""
        device, _, _ = key.rpartition(":")
        state = self._windows.get(device)
        if state is None or state[0] != key:
            if len(self._windows) > 10_000:
                self._windows.clear()
            state = self._windows[device] = [key, 0, 0, -math.inf]
        state[1] += 1
        now = time.monotonic()
        if state[1] >= max(1, limit // SYNC_SHARE) or now - state[3] >= SYNC_SECONDS:
            unsent = state[1]
            state[2] = self._add(key, unsent, ttl)
            state[1], state[3] = 0, now
        return state[2] + state[1]

    def _add(self, key: str, amount: int, ttl: int) -> int:
        total = self.redis.command(settings.REDIS_URL, "INCRBY", key, amount)
        if total == amount:  # the window's first count
            self.redis.command(settings.REDIS_URL, "EXPIRE", key, ttl)
        return total


_redis_counter = _RedisCounter()


def _count(key: str, ttl: int, limit: int) -> int:
    if settings.REDIS_URL:
        try:
            return _redis_counter.count(key, ttl, limit)
        except redis.RedisError:
            # A Redis outage must not stop devices from reporting: count nothing, let it in.
            logger.warning("Ingest throttle could not reach Redis; request allowed.")
            return 0
    cache.add(key, 0, ttl)  # embedded mode: the process's own cache
    return cache.incr(key)


def ingest_wait(device) -> float | None:
    """None if the device may post now, else the seconds until its next window:
    INGEST_THROTTLE_RATE requests per device (e.g. "1200/min"; empty: no limit), counted in
    fixed windows of that period (a burst across a window's edge may reach twice the rate).
    A batch counts as one request."""
    rate = settings.INGEST_THROTTLE_RATE  # read per request: the environment/tests set it
    if not rate:
        return None
    allowed, unit = rate.split("/")
    period = _PERIODS[unit]
    now = time.time()
    window = int(now // period)
    # The creation time keeps a recreated database from inheriting an old device's count.
    key = f"throttle:ingest:{device.pk}-{device.created_at.timestamp():.6f}:{window}"
    if _count(key, period + 1, int(allowed)) <= int(allowed):
        return None
    return period - (now % period)


class DeviceIngestThrottle(BaseThrottle):
    """ingest_wait() for DRF views: a refused request gets 429 JSON with Retry-After."""

    def allow_request(self, request, view):
        device = getattr(request.user, "device", None)
        if device is None:
            return True  # not a device: authentication and permissions answer it
        self._wait = ingest_wait(device)
        return self._wait is None

    def wait(self):
        return getattr(self, "_wait", None)


class CsvExportThrottle(UserRateThrottle):
    """CSV_EXPORT_THROTTLE_RATE exports per user: an export holds a web worker while it
    streams, and the workers also serve device ingest. Counted in the shared cache."""

    scope = "csv_export"

    def get_rate(self):
        return settings.CSV_EXPORT_THROTTLE_RATE or None
