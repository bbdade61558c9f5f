"""Rate limits of the API. Ingest is limited per edge device, so one misbehaving box (a
retry loop, a replay of a week offline) cannot starve the others."""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class DeviceIngestThrottle(SimpleRateThrottle):
    """INGEST_THROTTLE_RATE requests per device (e.g. "1200/min"; empty: no limit). A
    refused request gets 429 JSON with Retry-After; a batch counts as one request."""

    scope = "ingest"

    def get_rate(self):
        # Read at each request, not at import, so the environment and tests can set it.
        return settings.INGEST_THROTTLE_RATE or None

    def get_cache_key(self, request, view):
        device = getattr(request.user, "device", None)
        if device is None:
            return None  # not a device: authentication and permissions answer it
        # The creation time keeps a recreated database from inheriting an old device's count.
        ident = f"{device.pk}-{device.created_at.timestamp():.6f}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
