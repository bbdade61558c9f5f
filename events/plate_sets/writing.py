"""Writing plate count sets: the rollup recomputes hours and days from the events, retention
re-rolls the hours it deleted from and forgets plates no event holds; both under rollup_lock."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.db.models.functions import Trunc

from ..models import PlateCountSet, PlateEvent, StatisticsPlate
from .hours import day_start, hour_start, local_hours, next_hour
from .slices import (
    Slices,
    plates_present,
    slices_add,
    slices_decode,
    slices_encode,
    slices_from_counts,
)

ROLLUP_LOCK_ID = 0x414E5052_0001  # an arbitrary advisory lock key ("ANPR" 1)
_CHUNK_HOURS = 24  # hours grouped by one query when sets are recomputed


def rollup_lock() -> None:
    """One writer of the statistics at a time (rollup, retention), until the transaction
    ends: two interleaved delete-and-insert runs would double rows. SQLite serialises
    writers anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ROLLUP_LOCK_ID])


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
            yield first, next_hour(last, tz)
            first = None
        if first is None:
            first = hour
        last = hour
    if first is not None:
        yield first, next_hour(last, tz)


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
            PlateEvent.objects.filter(captured_at__gte=hour, captured_at__lt=next_hour(hour, tz))
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
