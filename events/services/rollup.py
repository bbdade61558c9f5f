"""The statistics rollup: hourly and daily counts per camera and zone, and the plate sets."""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Trunc
from django.utils import timezone

from events.models import EventDailyStatistics, EventStatistics, PlateCountSet, PlateEvent
from events.plate_sets import day_start, local_hours, plate_sets_recompute, rollup_lock
from events.selectors.statistics import stats_zone

#: Events are re-rolled from this long before the last rollup: a transaction that stamped its
#: rows' updated_at before the last run but committed after it is still seen.
ROLLUP_OVERLAP = timedelta(minutes=5)


def _hour_runs(buckets: list[datetime], gap: timedelta = timedelta(hours=6)):
    """Sorted hour starts as (first, last) runs; hours less than `gap` apart share a run, so
    a late batch scattered over a day costs a few queries, not one per hour."""
    first = last = buckets[0]
    for bucket in buckets[1:]:
        if bucket - last > gap:
            yield first, last
            first = bucket
        last = bucket
    yield first, last


def event_statistics_rollup(*, everything: bool = False) -> int:
    """Recompute the hourly EventStatistics buckets that changed since the last run (events
    received or updated since then, whatever their capture time: late events re-roll their
    old buckets), or every bucket; with them the plate count sets of those hours, and the
    daily sums and plate count sets of the days holding them. Safe to run twice or
    concurrently; returns the number of hourly buckets recomputed."""
    started = timezone.now()
    tz = stats_zone()
    hour = Trunc("captured_at", "hour", tzinfo=tz)
    changed = PlateEvent.objects.all()
    if not everything:
        last = EventStatistics.objects.order_by("-rolled_at").values_list("rolled_at", flat=True)
        last = last.first()
        if last is not None:
            # updated_at >= cut, said so that indexes serve it: ingest stamps updated_at
            # and received_at alike, and only events updated in place (updated_at later)
            # are in the partial index on updated_at.
            cut = last - ROLLUP_OVERLAP
            changed = changed.filter(
                Q(received_at__gte=cut) | Q(updated_at__gte=cut, updated_at__gt=F("received_at"))
            )
    hours = changed.annotate(hour=hour).values_list("hour", flat=True).order_by().distinct()
    buckets = sorted(set(hours))
    if not buckets:
        return 0
    with transaction.atomic():
        rollup_lock()
        if everything:
            PlateCountSet.objects.all().delete()
            EventDailyStatistics.objects.all().delete()
        set_hours = []
        for first, last in _hour_runs(buckets):
            # Whole runs of hours by capture time (never by comparing the truncated hour,
            # which databases compare in different zones).
            end = last + timedelta(hours=1)
            EventStatistics.objects.filter(bucket__gte=first, bucket__lt=end).delete()
            rows = (
                PlateEvent.objects.filter(captured_at__gte=first, captured_at__lt=end)
                .annotate(hour=hour)
                .values("hour", "camera_id", "zone_id")
                .annotate(
                    count=Count("id"),
                    confidence_sum=Sum("confidence"),
                    confidence_count=Count("confidence"),
                )
                # In hour order, so that an hour's rows share pages: windows read by hour.
                .order_by("hour")
            )
            EventStatistics.objects.bulk_create(
                EventStatistics(
                    bucket=row["hour"],
                    camera_id=row["camera_id"],
                    zone_id=row["zone_id"],
                    event_count=row["count"],
                    confidence_sum=row["confidence_sum"] or 0.0,
                    confidence_count=row["confidence_count"],
                    rolled_at=started,
                )
                for row in rows
            )
            set_hours += local_hours(first, end, tz)
        days = plate_sets_recompute(hours=set_hours, tz=tz, rolled_at=started)
        for day in days:
            # The days holding those hours, added up from their hours.
            first, end = day_start(day, tz), day_start(day + timedelta(days=1), tz)
            EventDailyStatistics.objects.filter(day=first).delete()
            EventDailyStatistics.objects.bulk_create(
                EventDailyStatistics(day=first, **row)
                for row in EventStatistics.objects.filter(bucket__gte=first, bucket__lt=end)
                .values("camera_id", "zone_id")
                .annotate(
                    event_count=Sum("event_count"),
                    confidence_sum=Sum("confidence_sum"),
                    confidence_count=Sum("confidence_count"),
                )
                .order_by()
            )
        if everything:
            EventStatistics.objects.exclude(rolled_at=started).delete()
    return len(buckets)
