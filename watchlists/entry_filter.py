"""A per-process membership filter of every watchlist entry key, so that a read which is
certainly not listed needs no database round trip and, at ingest, no transaction.

Most reads are listed nowhere, yet each would look its plate's and candidates' keys up in
the database (watchlists/keys.py). This process instead keeps a Bloom filter of all keys of
all entries (their own key and the further keys of lists with an edit budget; pattern
entries have none): a key it does not hold is certainly stored nowhere, a key it holds may
be (about 1 in 20,000 is a false "maybe", which only costs the database lookup that would
have happened anyway). The matching step asks the database only for reads with a "maybe".

Exact as the device cache is (cameras/directory.py), on the same connection: statement
triggers on the entries and their keys (migration 0003) notify `CHANNEL` when a change
commits, and the filter is used only while `device_directory.heard(CHANNEL)` still shows
the number it was built at; anything heard, a new connection, or MAX_AGE_SECONDS passing
(a safety net) makes it stale. A stale or missing filter is rebuilt lazily in a background thread
(one query, on the thread's own connection) while reads take the database path; so does
every read where the device cache is off (SQLite, pooled connections) or the build failed.
"""

import logging
import threading
import time
from array import array

from django.db import connection, connections

from cameras.directory import device_directory

from .models import WatchlistEntry, WatchlistEntryKey

logger = logging.getLogger("anpr.watchlists")

#: The channel of migration 0003's triggers.
CHANNEL = "anpr_watchlist_entries"
#: Bits per key and probes per key: about 1 false "maybe" in 20,000 absent keys.
BITS_PER_KEY = 24
PROBES = 8
#: Past this many keys no filter is built (24 bits a key: 240 MB): the database answers.
MAX_KEYS = 10_000_000
#: A filter is rebuilt after this long even if nothing was heard (a safety net; a build of
#: a million keys costs a few seconds of one core, in the background).
MAX_AGE_SECONDS = 3600
#: After a failed build, reads take the database path this long before the next attempt.
RETRY_SECONDS = 60
_MASK = (1 << 64) - 1


class KeyFilter:
    """A Bloom filter of strings with Python's own (per-process salted) hash: it lives and
    dies with its process, so the salt never has to match another's."""

    __slots__ = ("bits", "size", "count")

    def __init__(self, hashes: array):
        self.count = len(hashes)
        self.size = max(self.count * BITS_PER_KEY, 8192)
        bits = bytearray(self.size // 8 + 1)
        size = self.size
        for value in hashes:  # the probes of holds_any()
            position, step = value & 0xFFFFFFFF, (value >> 32) | 1
            for _ in range(PROBES):
                position %= size
                bits[position >> 3] |= 1 << (position & 7)
                position += step
        self.bits = bits

    def __contains__(self, key: str) -> bool:
        return self.holds_any((key,))

    def holds_any(self, keys) -> bool:
        """Whether any of these keys may be held (False: certainly none is)."""
        bits, size = self.bits, self.size
        for key in keys:
            value = hash(key) & _MASK
            position, step = value & 0xFFFFFFFF, (value >> 32) | 1
            for _ in range(PROBES):
                position %= size
                if not bits[position >> 3] & (1 << (position & 7)):
                    break
                position += step
            else:
                return True
        return False


def keys_hashes() -> array:
    """The hashes of every stored key, in one snapshot (one COPY statement)."""
    quote = connection.ops.quote_name
    entries = quote(WatchlistEntry._meta.db_table)
    further = quote(WatchlistEntryKey._meta.db_table)
    sql = (
        f"COPY (SELECT match_key FROM {entries} WHERE match_key <> '' "
        f"UNION ALL SELECT key FROM {further}) TO STDOUT"
    )
    hashes = array("Q")
    with connection.cursor() as cursor, cursor.copy(sql) as copy:
        for block in copy:
            for line in bytes(block).decode().splitlines():
                hashes.append(hash(line) & _MASK)
                if len(hashes) > MAX_KEYS:
                    raise OverflowError(f"over {MAX_KEYS} watchlist keys: no filter")
    return hashes


class EntryFilter:
    """This process's filter and its rebuilds (see the module docstring)."""

    #: Build in a background thread (tests build inline).
    background = True

    def __init__(self):
        self._lock = threading.Lock()
        #: (filter, what heard(CHANNEL) said when its build began, monotonic time of then)
        self._state: tuple[KeyFilter, int, float] | None = None
        self._building = False
        self._failed_at: float | None = None

    def current(self) -> KeyFilter | None:
        """The filter if it is exact now, else None (and a rebuild is started)."""
        if connection.vendor != "postgresql":
            return None
        heard = device_directory.heard(CHANNEL)
        if heard is None and device_directory.usable():  # not listening on this one yet
            heard = device_directory.heard(CHANNEL)
        if heard is None:
            return None
        if (found := self._exact(heard)) is not None:
            return found
        self._rebuild(heard)
        return self._exact(heard)  # built inline, or still None

    def _exact(self, heard: int) -> KeyFilter | None:
        state = self._state  # one read: a build may replace it meanwhile
        if state is None or state[1] != heard:
            return None
        if time.monotonic() - state[2] >= MAX_AGE_SECONDS:
            return None
        return state[0]

    def forget(self) -> None:
        with self._lock:
            self._state, self._failed_at = None, None

    def _rebuild(self, heard: int) -> None:
        with self._lock:
            if self._building:
                return
            if self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_SECONDS:
                return
            self._building = True
        if self.background:
            threading.Thread(
                target=self._build, args=(heard, True), name="watchlist-filter", daemon=True
            ).start()
        else:
            self._build(heard, False)

    def _build(self, heard: int, own_connection: bool) -> None:
        try:
            started = time.monotonic()
            built = KeyFilter(keys_hashes())
            with self._lock:
                self._state, self._failed_at = (built, heard, started), None
        except Exception:
            logger.exception("Watchlist key filter not built; reads look entries up directly.")
            with self._lock:
                self._state, self._failed_at = None, time.monotonic()
        finally:
            with self._lock:
                self._building = False
            if own_connection:
                connections.close_all()  # the thread's own

    def wait(self, timeout: float) -> KeyFilter | None:
        """The filter once exact, waiting up to `timeout` seconds for a build (benchmarks)."""
        deadline = time.monotonic() + timeout
        if connection.vendor != "postgresql" or not device_directory.usable():
            return None  # never usable here
        while (found := self.current()) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return found


entry_filter = EntryFilter()


def keys_maybe_listed(wanted) -> bool:
    """Whether any of these keys may be stored: False only when the filter is exact now and
    holds none of them."""
    found = entry_filter.current()
    return found is None or found.holds_any(wanted)
