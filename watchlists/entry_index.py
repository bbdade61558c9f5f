"""A per-process index of the enabled lists' entries, so that deciding a read's hits needs no
database round trip: storing a hit loads its entry, and only reads that hit do that.

Each process holds every key (watchlists/keys.py) of every entry of the enabled lists: an
entry's own key and, on a list with an edit budget, its further keys, as a sorted array of
64-bit hashes (Python's own, salted per process: the index lives and dies with it) beside
the entry each belongs to. An entry is kept as its id and list, its validity window (once
any entry has one, every entry's: two floats), and on a list with an edit budget its own key
(the folded plate), which verifying a match through a further key needs (through its own
key, the read's key is the entry's). Pattern entries are kept by list. The keys of lists
with a budget are also in a bitmap (64 bits a key), which most of a read's deletions miss.
About 40 bytes an entry of a list without a budget (56 with windows): 40 MB for a million;
about 350 bytes an entry at budget 1 (its own key, about 7 further keys of 16 bytes, and
their bits). A build takes about 2.5 times that while it runs. Two keys with one hash (about
one chance in 10^12 a read) would pass for one another: a hit about to be stored is checked
against its entry's stored key (services/matching.py).

Exact as the device cache is (cameras/directory.py), on the same connection: triggers on the
entries, their keys and the lists' `enabled`, strategy and budget (migrations 0004, 0007)
notify `CHANNEL` when a change commits, and the index is used only while
`device_directory.heard(CHANNEL)` still shows the number its build began at; anything
heard, a new connection, or MAX_AGE_SECONDS passing (a safety net) makes it stale. A stale
or missing index is rebuilt lazily in a background thread (one COPY, on the thread's own
connection) while reads take the database path; so does every read where the device cache
is off (SQLite, pooled connections), the build failed (tried again after RETRY_SECONDS), or
the keys are over MAX_KEYS (tried again once a change is heard: finding that out costs a build).
"""

import logging
import math
import threading
import time
import uuid
from array import array
from bisect import bisect_left
from dataclasses import dataclass

from django.db import connection, connections

from cameras.directory import device_directory

from .models import Watchlist, WatchlistEntry, WatchlistEntryKey

logger = logging.getLogger("anpr.watchlists")

#: The channel of migration 0004's and 0007's triggers.
CHANNEL = "anpr_watchlist_entries"
#: Past this many keys no index is built (about 40 bytes a key): the database answers.
MAX_KEYS = 5_000_000
#: An index is rebuilt after this long even if nothing was heard (a safety net; a build of
#: a million entries costs a few seconds of one core, in the background).
MAX_AGE_SECONDS = 3600
#: After a failed build, reads take the database path this long before the next attempt.
RETRY_SECONDS = 60
_MASK = (1 << 64) - 1
_ROW_BITS = 32  # a slot: row << 1 | (1 if a further key), beside its hash while sorting
#: Hashes are found in the run of their top bits (a table of where each run starts), which
#: spares a lookup most of a binary search's steps.
_BUCKET_SHIFT = 48
#: Bits of the bitmap of budget lists' keys, per key (see _bitmap).
_BITMAP_BITS_PER_VALUE = 64
NULL = r"\N"  # COPY's text for NULL


#: A window's ends when open (NULL): what valid_at() compares as no bound.
_OPEN_FROM, _OPEN_UNTIL = -math.inf, math.inf


def _seconds(text: str, open_end: float) -> float:
    return open_end if text == NULL else float(text)


@dataclass(slots=True, frozen=True)
class EntryFound:
    """An entry that shares a key with a read (or a pattern entry of a list covering it),
    before verification: its own key (`E` + plate, `O` + folded plate) or, for a pattern,
    the pattern; its validity as POSIX seconds."""

    entry_id: uuid.UUID
    watchlist_id: int
    key: str
    valid_from: float | None = None
    valid_until: float | None = None

    def valid_at(self, at: float) -> bool:
        return (self.valid_from is None or self.valid_from <= at) and (
            self.valid_until is None or at < self.valid_until
        )


class EntryIndex:
    """The entries of the enabled lists of one snapshot (see the module docstring)."""

    __slots__ = (
        "hashes",
        "slots",
        "starts",
        "ids",
        "lists",
        "windows",
        "own_keys",
        "budget_bits",
        "patterns",
        "count",
    )

    def __init__(self, rows):
        """From the COPY's rows as split text: ("e", id, list id, own key, plate, valid
        from, valid until, budget) for an entry (validity in POSIX seconds, or \\N when open),
        ("k", entry id, ..., further key, ...) for a further key, in any order."""
        ids, lists = bytearray(), array("q")
        # (from, until) of every row once any entry has a window (16 bytes an entry; a
        # dict of tuples of floats took 160 more an entry with one).
        self.windows = array("d")
        self.own_keys: dict[int, str] = {}  # entries of lists with a budget
        budget_values = array("Q")  # the hashes of their keys, own and further
        self.patterns: dict[int, list[tuple[int, str]]] = {}
        rows_of_budget: dict[str, int] = {}  # entries of lists with a budget, for their keys
        combined, keys_early = [], []
        for tag, entry_id, list_id, key, plate, valid_from, valid_until, budget in rows:
            if tag == "k":
                row = rows_of_budget.get(entry_id)
                if row is None:
                    keys_early.append((entry_id, key))
                else:
                    value = hash(key) & _MASK
                    combined.append(value << _ROW_BITS | row << 1 | 1)
                    budget_values.append(value)
            else:
                row, list_id = len(lists), int(list_id)
                ids += bytes.fromhex(entry_id.replace("-", ""))
                lists.append(list_id)
                if self.windows or valid_from != NULL or valid_until != NULL:
                    if not self.windows:  # the rows before have none
                        self.windows = array("d", (_OPEN_FROM, _OPEN_UNTIL)) * row
                    self.windows.append(_seconds(valid_from, _OPEN_FROM))
                    self.windows.append(_seconds(valid_until, _OPEN_UNTIL))
                if not key:
                    self.patterns.setdefault(list_id, []).append((row, plate))
                    continue
                value = hash(key) & _MASK
                combined.append(value << _ROW_BITS | row << 1)
                if budget != "0":
                    self.own_keys[row] = key
                    budget_values.append(value)
                    rows_of_budget[entry_id] = row
            if len(combined) > MAX_KEYS:
                raise OverflowError(f"over {MAX_KEYS} watchlist keys: no index")
        for entry_id, key in keys_early:
            if (row := rows_of_budget.get(entry_id)) is not None:
                value = hash(key) & _MASK
                combined.append(value << _ROW_BITS | row << 1 | 1)
                budget_values.append(value)
        if len(combined) > MAX_KEYS:
            raise OverflowError(f"over {MAX_KEYS} watchlist keys: no index")
        combined.sort()
        low = (1 << _ROW_BITS) - 1
        self.hashes = array("Q", (value >> _ROW_BITS for value in combined))
        self.slots = array("L", (value & low for value in combined))
        self.starts = array(
            "L",
            (bisect_left(self.hashes, b << _BUCKET_SHIFT) for b in range(1 << 64 - _BUCKET_SHIFT)),
        )
        self.starts.append(len(self.hashes))
        self.ids, self.lists, self.count = bytes(ids), lists, len(combined)
        self.budget_bits = _bitmap(budget_values)

    def entries_found(self, *, keys, further=(), patterned=()) -> list[EntryFound]:
        """The entries sharing any of `keys`, the entries of lists with an edit budget sharing
        any of `further` (a read's deletions: keys.ReadKeys; another entry sharing one may
        come too, which verifying rejects), and the pattern entries of the lists
        `patterned`."""
        hashes, slots, starts = self.hashes, self.slots, self.starts
        found, seen = [], set()
        values = [(key, hash(key) & _MASK) for key in keys]
        if further and (bits := self.budget_bits):
            # Nearly no deletion is held: the bitmap rules out most at a look, where the
            # binary search below costs twice as much a key.
            low = len(bits) * 8 - 1
            values += [
                (k, v) for k in further if bits[((v := hash(k) & _MASK) & low) >> 3] >> (v & 7) & 1
            ]
        for key, value in values:
            bucket = value >> _BUCKET_SHIFT  # the run of its top bits, then a binary search
            end = starts[bucket + 1]
            at = bisect_left(hashes, value, starts[bucket], end)
            while at < end and hashes[at] == value:
                slot, at = slots[at], at + 1
                row = slot >> 1
                if row in seen:
                    continue
                seen.add(row)
                # Through its own key the entry's key is the read's; else it is kept.
                own = key if not slot & 1 else self.own_keys[row]
                found.append(self._found(row, own))
        for list_id in patterned:
            found += [self._found(row, plate) for row, plate in self.patterns.get(list_id, ())]
        return found

    def _found(self, row: int, key: str) -> EntryFound:
        valid_from = valid_until = None
        if self.windows:
            valid_from, valid_until = self.windows[row * 2], self.windows[row * 2 + 1]
            valid_from = None if valid_from == _OPEN_FROM else valid_from
            valid_until = None if valid_until == _OPEN_UNTIL else valid_until
        entry_id = uuid.UUID(bytes=self.ids[row * 16 : row * 16 + 16])
        return EntryFound(entry_id, self.lists[row], key, valid_from, valid_until)


def _bitmap(values) -> bytearray:
    """A bitmap of the values' low bits, about 64 bits a value (so about 1.5% of values
    not among them pass for one), a power of two long; empty for no value."""
    if not values:
        return bytearray()
    size = 1 << max(16, (len(values) * _BITMAP_BITS_PER_VALUE - 1).bit_length())
    bits, low = bytearray(size // 8), size - 1
    for value in values:
        bits[(value & low) >> 3] |= 1 << (value & 7)
    return bits


def index_rows() -> EntryIndex:
    """The index of the enabled lists' entries, from one snapshot (one COPY statement)."""
    quote = connection.ops.quote_name
    entries = quote(WatchlistEntry._meta.db_table)
    further = quote(WatchlistEntryKey._meta.db_table)
    lists = quote(Watchlist._meta.db_table)
    # One statement, so one snapshot: the entries (tagged e) and the further keys (k).
    sql = (
        f"COPY (SELECT 'e', e.id, e.watchlist_id, e.match_key, e.plate, "
        f"extract(epoch FROM e.valid_from), extract(epoch FROM e.valid_until), w.edit_budget "
        f"FROM {entries} e JOIN {lists} w ON w.id = e.watchlist_id WHERE w.enabled "
        f"UNION ALL SELECT 'k', k.entry_id, NULL, k.key, NULL, NULL, NULL, NULL "
        f"FROM {further} k JOIN {entries} e ON e.id = k.entry_id "
        f"JOIN {lists} w ON w.id = e.watchlist_id WHERE w.enabled AND w.edit_budget > 0"
        f") TO STDOUT"
    )
    with connection.cursor() as cursor, cursor.copy(sql) as copy:
        return EntryIndex(line.split("\t") for line in _lines(copy))


def _lines(copy):
    """The text lines of a COPY TO STDOUT, across its blocks."""
    rest = b""
    for block in copy:
        *complete, rest = (rest + bytes(block)).split(b"\n")
        for line in complete:
            yield line.decode()
    if rest:
        yield rest.decode()


class EntryIndexCache:
    """This process's index and its rebuilds (see the module docstring)."""

    #: Build in a background thread (tests build inline).
    background = True

    def __init__(self):
        self._lock = threading.Lock()
        #: (index, what heard(CHANNEL) said when its build began, monotonic time of then)
        self._state: tuple[EntryIndex, int, float] | None = None
        self._building = False
        self._failed_at: float | None = None
        #: What heard(CHANNEL) said when a build found too many keys: not tried again until
        #: it moves (only a change can bring them under MAX_KEYS).
        self._too_many_at: int | None = None

    def current(self) -> EntryIndex | None:
        """The index if it is exact now, else None (and a rebuild is started)."""
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

    def _exact(self, heard: int) -> EntryIndex | None:
        state = self._state  # one read: a build may replace it meanwhile
        if state is None or state[1] != heard:
            return None
        if time.monotonic() - state[2] >= MAX_AGE_SECONDS:
            return None
        return state[0]

    def forget(self) -> None:
        with self._lock:
            self._state, self._failed_at, self._too_many_at = None, None, None

    def _rebuild(self, heard: int) -> None:
        with self._lock:
            if self._building:
                return
            if self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_SECONDS:
                return
            if heard == self._too_many_at:
                return
            self._building = True
            self._state = None  # its memory goes before the next one's is taken
        if self.background:
            threading.Thread(
                target=self._build, args=(heard, True), name="watchlist-index", daemon=True
            ).start()
        else:
            self._build(heard, False)

    def _build(self, heard: int, own_connection: bool) -> None:
        try:
            started = time.monotonic()
            built = index_rows()
            with self._lock:
                self._state, self._failed_at = (built, heard, started), None
        except OverflowError as error:
            logger.warning("Watchlist entry index not built (%s); reads look entries up.", error)
            with self._lock:
                self._state, self._failed_at, self._too_many_at = None, time.monotonic(), heard
        except Exception:
            logger.exception("Watchlist entry index not built; reads look entries up directly.")
            with self._lock:
                self._state, self._failed_at = None, time.monotonic()
        finally:
            with self._lock:
                self._building = False
            if own_connection:
                connections.close_all()  # the thread's own

    def wait(self, timeout: float) -> EntryIndex | None:
        """The index once exact, waiting up to `timeout` seconds for a build (benchmarks)."""
        deadline = time.monotonic() + timeout
        if connection.vendor != "postgresql" or not device_directory.usable():
            return None  # never usable here
        while (found := self.current()) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return found


entry_index = EntryIndexCache()
