"""A per-process cache of what every device request looks up, kept exact by PostgreSQL.

Each ingest needs the device behind its key and the device's cameras (with what the
after-store steps ask along, such as whether any exporter is enabled, and the zones a read
names): two or three of the request's database round trips. On PostgreSQL with persistent
connections (gunicorn, Celery, the MQTT listener) a process keeps them here instead. Triggers
on the tables they come from (migrations cameras/0003, and exporters/0003 for the exporters'
after-store question) send a notification on `CHANNEL` when a change commits; the
process LISTENs on its own connection and, before each lookup, reads what PostgreSQL has sent
and drops everything it holds if anything came. So a change (a revoked key, a camera moved to
another device) is seen by every request that starts after PostgreSQL delivered its
notification, which it does within about a millisecond of the commit (a request racing the
commit that closely could have been served just before it anyway). Entries also expire after
DEVICE_CACHE_SECONDS, and a new connection starts with an empty cache.

Other per-process caches kept exact by triggers of their own tables ride on the same
connection: `device_directory.hear(channel)` (from an AppConfig.ready()) has their channel
LISTENed too, and `heard(channel)` is a number that moves whenever a notification of it
arrived, or the connection changed, so such a cache is exact while the number stays
(watchlists/entry_index.py). Their notifications do not empty the device cache.

Off (every lookup queries) on SQLite, with pooled connections (ASGI) and inside a transaction
(where LISTEN would wait for the commit), and when DEVICE_CACHE_SECONDS is 0.
"""

import logging
import time
from dataclasses import dataclass

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

logger = logging.getLogger(__name__)

#: The notification channel of the triggers (keep in step with the migrations).
CHANNEL = "anpr_device_directory"


@dataclass(slots=True)
class DeviceEntry:
    """A device (as its key finds it) and, once asked for, what the ingest built from all its
    cameras and their zones (events.services.device_cameras), kept until anything changes."""

    device: object
    cameras: object | None
    loaded_at: float


class DeviceDirectory:
    """The cache of one process (see the module docstring)."""

    max_entries = 10_000  # keys; past this the cache starts over

    def __init__(self):
        self._entries: dict[str, DeviceEntry] = {}
        self._listening_on = None  # the psycopg connection our LISTEN is on
        #: {other channel: a number that moves when it is heard}; see heard().
        self._heard: dict[str, int] = {}

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def usable(self) -> bool:
        """Whether lookups may be answered from the cache now (and it is up to date)."""
        if not settings.DEVICE_CACHE_SECONDS:
            return False
        database = connections[DEFAULT_DB_ALIAS]  # once: each access costs a context lookup
        if (
            database.vendor != "postgresql"
            or not database.settings_dict["CONN_MAX_AGE"]
            or database.in_atomic_block
        ):
            return False
        database.close_if_health_check_failed()
        database.ensure_connection()
        raw = database.connection
        try:
            if raw is not self._listening_on:
                self._forget()  # a new connection heard nothing of what changed before it
                raw.add_notify_handler(self._notified)  # notifications read by queries
                for channel in (CHANNEL, *self._heard):
                    raw.execute(f"LISTEN {channel}")
                self._listening_on = raw
            pgconn = raw.pgconn
            pgconn.consume_input()  # what has arrived on the socket, without waiting
            while (notify := pgconn.notifies()) is not None:
                self._channel_heard(notify.relname.decode())
        except psycopg.Error:
            logger.warning("Device cache: the connection failed; looking up directly.")
            self._forget()
            self._listening_on = None
            return False
        return True

    def hear(self, channel: str) -> None:
        """Also LISTEN on `channel` (a cache of another app; see the module docstring)."""
        self._heard.setdefault(channel, 0)
        self._listening_on = None  # LISTEN again, on the next usable()

    def heard(self, channel: str) -> int | None:
        """A number that moves whenever `channel` was heard or the connection changed; None
        when nothing is heard now (the cache is off, or not listening on this connection:
        call it after usable(), as a request's device lookup does). Outside a transaction it
        first reads what PostgreSQL has sent since; inside one, the number stands as the
        transaction's first statement left it."""
        database = connections[DEFAULT_DB_ALIAS]
        raw = database.connection
        if raw is None or raw is not self._listening_on or not settings.DEVICE_CACHE_SECONDS:
            return None
        if not database.in_atomic_block:
            try:
                pgconn = raw.pgconn
                pgconn.consume_input()
                while (notify := pgconn.notifies()) is not None:
                    self._channel_heard(notify.relname.decode())
            except psycopg.Error:
                self._forget()
                self._listening_on = None
                return None
        return self._heard.get(channel)

    def _forget(self) -> None:
        self.clear()
        for channel in self._heard:
            self._heard[channel] += 1

    def _channel_heard(self, channel: str) -> None:
        if channel == CHANNEL:
            self.clear()
        elif channel in self._heard:
            self._heard[channel] += 1

    def _notified(self, notify) -> None:
        self._channel_heard(notify.channel)

    def entry(self, digest: str) -> DeviceEntry | None:
        entry = self._entries.get(digest)
        if entry is not None and time.monotonic() - entry.loaded_at > settings.DEVICE_CACHE_SECONDS:
            del self._entries[digest]
            return None
        return entry

    def remember(self, digest: str, device) -> DeviceEntry:
        if len(self._entries) >= self.max_entries:
            self.clear()
        entry = DeviceEntry(device=device, cameras=None, loaded_at=time.monotonic())
        self._entries[digest] = entry
        device._directory_digest = digest
        return entry

    def entry_of(self, device) -> DeviceEntry | None:
        """The entry a device came from (the cameras are kept beside it). Not checked against
        notifications again: the device's own lookup in this request just did."""
        entry = self._entries.get(getattr(device, "_directory_digest", ""))
        return entry if entry is not None and entry.device is device else None


device_directory = DeviceDirectory()
