"""Reading a window's plate counts: its whole local days' sets and the hours around them,
decoded once per process, and the top plates looked up by id."""

import threading
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q

from ..models import PlateCountSet, StatisticsPlate
from .hours import day_start
from .slices import (
    Slices,
    bits_of,
    plates_present,
    plates_top,
    slices_add,
    slices_count_of,
    slices_decode,
)

#: Plates tied at the top-N threshold up to this many are looked up by id; more are found by
#: walking the dictionary in plate order until enough of them turn up.
TIE_LOOKUP_MAX = 500
#: Decoded sets a process keeps at most (the days of a month of 200,000 plates: some 3 MB).
DECODED_CACHE_BYTES = 32 * 2**20


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
