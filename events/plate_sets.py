"""Plate count sets: how often each plate was read in one hour or one local day, kept by the
statistics rollup so that a month's distinct and top plates are a few dozen bitsets added up
instead of a walk over a million events.

Plates are numbered by StatisticsPlate (dense ids). A set is bit-sliced: slice i is a bitset (a
Python int, bit n standing for plate n) of the plates whose count has bit i set, so

- two sets add up with a ripple-carry adder over their slices (`slices_add`);
- the distinct plates are the popcount of the OR of the slices;
- the top plates come from the count threshold, found bit by bit from the highest slice with
  a few ANDs and popcounts (`plates_top`); only those few plates are then looked up.

Hours are the TIME_ZONE's hours at their true instants (the hour a DST change repeats is two
sets); a day is the hours from one local midnight to the next (23 or 25 of them on DST days).
All cameras are in one set: a camera or zone filter reads the events instead.

The rollup writes them (`plate_sets_recompute`, under its lock), retention re-rolls the hours
it deleted from and forgets plates no event holds any more; `event_statistics` reads them.
"""

import re
import threading
import zlib
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import reduce
from operator import or_
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.db.models.functions import Trunc

from .models import PlateCountSet, PlateEvent, StatisticsPlate

ROLLUP_LOCK_ID = 0x414E5052_0001  # an arbitrary advisory lock key ("ANPR" 1)
#: Plates tied at the top-N threshold up to this many are looked up by id; more are found by
#: walking the dictionary in plate order until enough of them turn up.
TIE_LOOKUP_MAX = 500
#: Decoded sets a process keeps at most (the days of a month of 200,000 plates: some 3 MB).
DECODED_CACHE_BYTES = 32 * 2**20
_CHUNK_HOURS = 24  # hours grouped by one query when sets are recomputed
_HOUR = timedelta(hours=1)

Slices = list[int]


def rollup_lock() -> None:
    """One writer of the statistics at a time (rollup, retention), until the transaction
    ends: two interleaved delete-and-insert runs would double rows. SQLite serialises
    writers anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ROLLUP_LOCK_ID])


# --- Bit-sliced arithmetic ------------------------------------------------------------------


def slices_from_counts(counts: Iterable[tuple[int, int]]) -> Slices:
    """The slices of (plate id, count) pairs (each id once, counts > 0)."""
    counts = list(counts)
    if not counts:
        return []
    width = (max(plate_id for plate_id, _ in counts) >> 3) + 1
    depth = max(count for _, count in counts).bit_length()
    planes = [bytearray(width) for _ in range(depth)]
    for plate_id, count in counts:
        byte, bit = plate_id >> 3, 1 << (plate_id & 7)
        level = 0
        while count:
            if count & 1:
                planes[level][byte] |= bit
            count >>= 1
            level += 1
    return [int.from_bytes(plane, "little") for plane in planes]


def slices_encode(slices: Slices) -> bytes:
    width = (max((s.bit_length() for s in slices), default=0) + 7) >> 3
    return zlib.compress(b"".join(s.to_bytes(width, "little") for s in slices))


def slices_decode(depth: int, blob: bytes) -> Slices:
    if not depth:
        return []
    raw = memoryview(zlib.decompress(blob))
    width = len(raw) // depth
    return [int.from_bytes(raw[i * width : (i + 1) * width], "little") for i in range(depth)]


def slices_add(total: Slices, addend: Slices) -> None:
    """total += addend, plate by plate (a ripple-carry adder over the slices)."""
    carry = 0
    level = 0
    while level < len(addend) or carry:
        a = total[level] if level < len(total) else 0
        if level < len(addend):
            b = addend[level]
            partial = a ^ b
            bits = partial ^ carry
            carry = (a & b) | (partial & carry)
        else:
            bits = a ^ carry
            carry = a & carry
        if level < len(total):
            total[level] = bits
        else:
            total.append(bits)
        level += 1


def plates_present(slices: Slices) -> int:
    """The bitset of plates counted at least once."""
    return reduce(or_, slices, 0)


def slices_count_of(slices: Slices, plate_id: int) -> int:
    return sum(((s >> plate_id) & 1) << level for level, s in enumerate(slices))


def bits_of(bitset: int) -> list[int]:
    """The positions of the set bits, ascending."""
    data = bitset.to_bytes((bitset.bit_length() + 7) >> 3, "little")
    positions = []
    for match in re.finditer(rb"[^\x00]", data):
        base, value = match.start() << 3, data[match.start()]
        while value:
            low = value & -value
            positions.append(base + low.bit_length() - 1)
            value ^= low
    return positions


@dataclass
class TopSplit:
    """The top N plates of a sum as bitsets: `above` (fewer than N plates, each counted more
    often than `threshold`) and `tied` (counted exactly `threshold` times; as many of them as
    N leaves room for, in plate order, complete the top)."""

    above: int
    above_count: int
    tied: int
    threshold: int


def plates_top(slices: Slices, n: int) -> TopSplit:
    """Find the count of the n-th most read plate from the highest bit down: keep the plates
    whose counts agree with the threshold so far (`tied`) and those already above it."""
    tied = plates_present(slices)
    above = above_count = threshold = 0
    for level in range(len(slices) - 1, -1, -1):
        with_bit = tied & slices[level]
        with_bit_count = with_bit.bit_count()
        if above_count + with_bit_count >= n:
            threshold |= 1 << level
            tied = with_bit
        else:
            above |= with_bit
            above_count += with_bit_count
            tied &= ~slices[level]
    return TopSplit(above=above, above_count=above_count, tied=tied, threshold=threshold)


# --- Reading a window -----------------------------------------------------------------------


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The local midnight of `day`, as a UTC instant."""
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def window_parts(
    start: datetime, end: datetime, tz: ZoneInfo
) -> tuple[list[tuple[datetime, datetime]], tuple[datetime, datetime] | None]:
    """[start, end) (local hour starts) as its whole local days, (first midnight, last
    midnight), and the hour ranges before and after them; no days: one hour range."""
    first_day = day_start(start.astimezone(tz).date(), tz)
    if first_day < start:
        first_day = day_start(start.astimezone(tz).date() + timedelta(days=1), tz)
    last_day_end = day_start(end.astimezone(tz).date(), tz)
    if first_day >= last_day_end:
        return [(start, end)], None
    edges = [(a, b) for a, b in ((start, first_day), (last_day_end, end)) if a < b]
    return edges, (first_day, last_day_end)


def window_filter(start: datetime, end: datetime, tz: ZoneInfo) -> Q:
    """The sets that make up [start, end): its whole days' and the other hours' sets."""
    edges, days = window_parts(start, end, tz)
    parts = Q(pk__in=[])
    for a, b in edges:
        parts |= Q(period=PlateCountSet.Period.HOUR, start__gte=a, start__lt=b)
    if days:
        parts |= Q(period=PlateCountSet.Period.DAY, start__gte=days[0], start__lt=days[1])
    return parts


def plate_sets_window(*, start: datetime, end: datetime, tz: ZoneInfo) -> list[PlateCountSet]:
    """The stored sets that make up [start, end) (local hour starts), in time order."""
    return list(PlateCountSet.objects.filter(window_filter(start, end, tz)).order_by("start"))


def plate_counts_sum(sets: Iterable[PlateCountSet]) -> Slices:
    """The per-plate counts of these sets added up."""
    total: Slices = []
    for row in sets:
        key = (row.pk, row.rolled_at, len(row.slices))
        slices_add(total, _decoded_sets.get(key, row.depth, row.slices))
    return total


def plate_counts_window(*, start: datetime, end: datetime, tz: ZoneInfo) -> Slices:
    """The per-plate counts of [start, end) (local hour starts), from the stored sets."""
    return plate_counts_sum(plate_sets_window(start=start, end=end, tz=tz))


class _DecodedSets:
    """Sets already decoded by this process, least recently used out first. Inflating is most
    of the cost of a window (a month: some 10 ms), and the days of one window are those of
    the next; a recomputed set is a new row, so a stale one is never found."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.entries: OrderedDict[tuple, tuple[Slices, int]] = OrderedDict()
        self.size = 0
        self.lock = threading.Lock()  # daphne runs sync views in threads

    def get(self, key: tuple, depth: int, blob) -> Slices:
        with self.lock:
            found = self.entries.get(key)
            if found is not None:
                self.entries.move_to_end(key)
                return found[0]
        slices = slices_decode(depth, bytes(blob))
        size = sum(s.bit_length() for s in slices) >> 3
        with self.lock:
            if key not in self.entries and size <= self.max_bytes:
                self.entries[key] = (slices, size)
                self.size += size
                while self.size > self.max_bytes:
                    _, (_, dropped) = self.entries.popitem(last=False)
                    self.size -= dropped
        return slices


_decoded_sets = _DecodedSets(DECODED_CACHE_BYTES)


def plate_counts_top(slices: Slices, *, top: int) -> tuple[int, list[dict]]:
    """(distinct plates, the top `top` plates as {"plate", "count"}), ordered by count, then
    plate (in the database's collation, as an ORDER BY plate would)."""
    distinct = plates_present(slices).bit_count()
    if not distinct:
        return 0, []
    split = plates_top(slices, top)
    above = bits_of(split.above) if split.above else []
    room = top - len(above)
    # One lookup in plate order for the plates above the threshold and, when they are few,
    # those tied at it; many tied ones are found by walking the dictionary instead.
    few_tied = room > 0 and split.tied.bit_count() <= TIE_LOOKUP_MAX
    ranked = list(
        StatisticsPlate.objects.filter(id__in=above + (bits_of(split.tied) if few_tied else []))
        .order_by("plate")
        .values_list("id", "plate")
    )
    counts = {plate_id: slices_count_of(slices, plate_id) for plate_id in above}
    result = sorted(
        (
            {"plate": plate, "count": counts[plate_id], "rank": rank}
            for rank, (plate_id, plate) in enumerate(ranked)
            if plate_id in counts
        ),
        key=lambda item: (-item["count"], item["rank"]),
    )
    if room > 0 and few_tied:
        result += [
            {"plate": plate, "count": split.threshold}
            for plate_id, plate in ranked
            if plate_id not in counts
        ][:room]
    elif room > 0 and split.tied:
        result += [
            {"plate": plate, "count": split.threshold} for plate in _first_plates(split.tied, room)
        ]
    return distinct, [{"plate": item["plate"], "count": item["count"]} for item in result]


def _first_plates(bitset: int, n: int) -> list[str]:
    """The first n plates in plate order among those of `bitset` (which has many members),
    walking the dictionary in plate order (its unique index): about n * dictionary / members
    rows go by before n members are found."""
    data = bitset.to_bytes((bitset.bit_length() + 7) >> 3, "little")
    found: list[str] = []
    after = None
    while len(found) < n:
        page = StatisticsPlate.objects.order_by("plate")
        if after is not None:
            page = page.filter(plate__gt=after)
        rows = list(page.values_list("id", "plate")[:2000])
        if not rows:
            break
        for plate_id, plate in rows:
            byte = plate_id >> 3
            if byte < len(data) and data[byte] >> (plate_id & 7) & 1:
                found.append(plate)
                if len(found) == n:
                    break
        after = rows[-1][1]
    return found


# --- Writing (the rollup and retention, under rollup_lock) -----------------------------------


def hour_start(moment: datetime, tz: ZoneInfo) -> datetime:
    """The start of the local hour holding `moment`, as a UTC instant."""
    return moment.astimezone(tz).replace(minute=0, second=0, microsecond=0).astimezone(UTC)


def local_hours(first: datetime, end: datetime, tz: ZoneInfo) -> list[datetime]:
    """The starts of the local hours that begin in [first, end), as UTC instants."""
    hours = []
    hour = hour_start(first, tz)
    if hour < first:
        hour = _next_hour(hour, tz)
    while hour < end:
        hours.append(hour)
        hour = _next_hour(hour, tz)
    return hours


def _next_hour(hour: datetime, tz: ZoneInfo) -> datetime:
    return hour_start(hour.astimezone(UTC) + _HOUR, tz)  # an hour of real time


def plate_sets_recompute(*, hours: list[datetime], tz: ZoneInfo, rolled_at: datetime) -> list[date]:
    """Recompute from the events the sets of these local hours (sorted UTC instants) and of
    the days holding them, numbering plates not seen before; returns those days. The caller
    holds rollup_lock in a transaction. Hours close together are read by one query (at most
    a day's worth)."""
    days = set()
    for first, end in _hour_ranges(hours, tz):
        _hour_sets_recompute(first, end, tz, rolled_at)
        days.update(hour.astimezone(tz).date() for hour in local_hours(first, end, tz))
    for day in sorted(days):
        _day_set_recompute(day, tz, rolled_at)
    return sorted(days)


def _hour_ranges(hours: list[datetime], tz: ZoneInfo):
    """[first, end) ranges covering the hours, each at most _CHUNK_HOURS long (every hour in
    a range is recomputed, listed or not)."""
    first = last = None
    for hour in hours:
        if first is not None and hour - first >= timedelta(hours=_CHUNK_HOURS):
            yield first, _next_hour(last, tz)
            first = None
        if first is None:
            first = hour
        last = hour
    if first is not None:
        yield first, _next_hour(last, tz)


def _plates_number(events) -> None:
    """Give the plates of `events` not numbered yet an id (one INSERT ... SELECT)."""
    new = (
        events.exclude(Exists(StatisticsPlate.objects.filter(plate=OuterRef("plate"))))
        .order_by()
        .values("plate")
        .distinct()
    )
    sql, params = new.query.sql_with_params()
    table = connection.ops.quote_name(StatisticsPlate._meta.db_table)
    if connection.vendor == "postgresql":
        statement = f"INSERT INTO {table} (plate) {sql} ON CONFLICT (plate) DO NOTHING"
    else:
        statement = f"INSERT OR IGNORE INTO {table} (plate) {sql}"
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _hour_sets_recompute(first: datetime, end: datetime, tz: ZoneInfo, rolled_at) -> None:
    events = PlateEvent.objects.filter(captured_at__gte=first, captured_at__lt=end)
    _plates_number(events)
    sums = {
        "count": Count("*"),
        "confidence_sum": Sum("confidence"),
        "confidence_count": Count("confidence"),
    }
    per_hour: dict[datetime, list] = defaultdict(list)
    # One grouped query for the chunk. The database truncates in local wall time, which
    # folds the hour a DST change repeats into one; such hours are read one by one below.
    repeated = []
    grouped = (
        events.annotate(hour=Trunc("captured_at", "hour", tzinfo=tz))
        .values("hour", "plate")
        .annotate(**sums)
        .order_by()
    )
    for row in grouped:
        hour = row["hour"]
        if hour.replace(fold=1).utcoffset() != hour.replace(fold=0).utcoffset():
            repeated.append(hour)
            continue
        per_hour[hour.astimezone(UTC)].append(row)
    for hour in {h.replace(fold=f).astimezone(UTC) for h in repeated for f in (0, 1)}:
        if not first <= hour < end:
            continue
        rows = (
            PlateEvent.objects.filter(captured_at__gte=hour, captured_at__lt=_next_hour(hour, tz))
            .values("plate")
            .annotate(**sums)
            .order_by()
        )
        per_hour[hour] = list(rows)
    ids = _plate_ids(events, {row["plate"] for rows in per_hour.values() for row in rows})
    PlateCountSet.objects.filter(
        period=PlateCountSet.Period.HOUR, start__gte=first, start__lt=end
    ).delete()
    PlateCountSet.objects.bulk_create(
        _set_from_rows(PlateCountSet.Period.HOUR, hour, rows, ids, rolled_at)
        for hour, rows in sorted(per_hour.items())
        if rows
    )


def _plate_ids(events, plates: set[str]) -> dict[str, int]:
    """The ids of these plates (those of `events`, numbered already). On PostgreSQL each
    statement sees what has committed by then: an event with a new plate may have come
    between the numbering and the counting, and its plate is numbered now."""
    ids = dict(
        StatisticsPlate.objects.filter(plate__in=events.order_by().values("plate")).values_list(
            "plate", "id"
        )
    )
    missing = sorted(plates - ids.keys())
    if missing:
        StatisticsPlate.objects.bulk_create(
            [StatisticsPlate(plate=plate) for plate in missing], ignore_conflicts=True
        )
        for start in range(0, len(missing), 500):
            ids.update(
                StatisticsPlate.objects.filter(plate__in=missing[start : start + 500]).values_list(
                    "plate", "id"
                )
            )
    return ids


def _set_from_rows(period, start, rows, ids, rolled_at) -> PlateCountSet:
    slices = slices_from_counts((ids[row["plate"]], row["count"]) for row in rows)
    return PlateCountSet(
        period=period,
        start=start,
        event_count=sum(row["count"] for row in rows),
        confidence_sum=sum(row["confidence_sum"] or 0.0 for row in rows),
        confidence_count=sum(row["confidence_count"] for row in rows),
        plate_count=len(rows),
        depth=len(slices),
        slices=slices_encode(slices),
        rolled_at=rolled_at,
    )


def _day_set_recompute(day: date, tz: ZoneInfo, rolled_at) -> None:
    """A day's set is the sum of its hours' sets."""
    start, end = day_start(day, tz), day_start(day + timedelta(days=1), tz)
    hour_sets = PlateCountSet.objects.filter(
        period=PlateCountSet.Period.HOUR, start__gte=start, start__lt=end
    ).values_list("depth", "slices", "event_count", "confidence_sum", "confidence_count")
    total: Slices = []
    events = confidence_count = 0
    confidence_sum = 0.0
    for depth, blob, count, c_sum, c_count in hour_sets:
        slices_add(total, slices_decode(depth, bytes(blob)))
        events += count
        confidence_sum += c_sum
        confidence_count += c_count
    PlateCountSet.objects.filter(period=PlateCountSet.Period.DAY, start=start).delete()
    if total:
        PlateCountSet.objects.create(
            period=PlateCountSet.Period.DAY,
            start=start,
            event_count=events,
            confidence_sum=confidence_sum,
            confidence_count=confidence_count,
            plate_count=plates_present(total).bit_count(),
            depth=len(total),
            slices=slices_encode(total),
            rolled_at=rolled_at,
        )


def plate_sets_after_delete(*, captured: Iterable[datetime], tz: ZoneInfo, rolled_at) -> None:
    """Re-roll the hour (and day) sets of events just deleted, in the caller's transaction:
    their plates leave the sets with them, and hours left empty lose their sets."""
    hours = sorted({hour_start(moment, tz) for moment in captured})
    if hours:
        rollup_lock()
        plate_sets_recompute(hours=hours, tz=tz, rolled_at=rolled_at)


def plate_sets_forget_before(*, tz: ZoneInfo) -> int:
    """Delete the sets of hours and days before the oldest event's (left by deletes that
    re-rolled nothing): they can hold only plates no event has any more."""
    oldest = PlateEvent.objects.order_by("captured_at").values_list("captured_at", flat=True)
    oldest = oldest.first()
    stale = PlateCountSet.objects.all()
    if oldest is not None:
        stale = stale.filter(
            Q(period=PlateCountSet.Period.HOUR, start__lt=hour_start(oldest, tz))
            | Q(
                period=PlateCountSet.Period.DAY,
                start__lt=day_start(oldest.astimezone(tz).date(), tz),
            )
        )
    with transaction.atomic():
        rollup_lock()
        deleted, _ = stale.delete()
    return deleted


def statistics_plates_forget(*, batch_size: int) -> int:
    """Delete the dictionary rows of plates that no event holds any more (plates are personal
    data), walking the dictionary by id in batches of short transactions. Returns how many."""
    forgotten = 0
    after = 0
    while True:
        ids = list(
            StatisticsPlate.objects.filter(id__gt=after)
            .order_by("id")
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return forgotten
        with transaction.atomic():
            rollup_lock()
            gone, _ = (
                StatisticsPlate.objects.filter(id__gt=after, id__lte=ids[-1])
                .exclude(Exists(PlateEvent.objects.filter(plate=OuterRef("plate"))))
                .delete()
            )
        forgotten += gone
        after = ids[-1]
