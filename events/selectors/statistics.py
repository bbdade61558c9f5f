"""Statistics reads: reads per hour or day (stacked by camera), top plates, cameras with state."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import Case, Count, F, Q, QuerySet, Sum, Value, When, Window
from django.utils import timezone

from cameras.models import Camera, Zone
from cameras.selectors import camera_liveness

from ..models import EventDailyStatistics, EventStatistics, PlateCountSet, PlateEvent
from ..plate_sets import (
    day_start,
    hour_start,
    local_hours,
    plate_counts_sum,
    plate_counts_top,
    plate_sets_window,
    window_parts,
)


def stats_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def hour_floor(moment: datetime) -> datetime:
    """The start of the TIME_ZONE hour holding `moment`, in TIME_ZONE."""
    zone = stats_zone()
    return hour_start(moment, zone).astimezone(zone)


def _average(total: float, count: int) -> float | None:
    return round(total / count, 4) if count else None


def event_statistics(
    *,
    since: datetime,
    until: datetime,
    interval: str = "hour",
    camera: int | None = None,
    zone: int | None = None,
    top: int = 10,
    stack: str | None = None,
) -> dict:
    """Counts per hour or day (in TIME_ZONE), per camera and zone, the average confidence,
    distinct and top plates of a window, from the rollup: without a filter its whole days
    from the daily sums and plate count sets (events/plate_sets/) and the hours around them
    from the hourly ones; with a camera or zone filter the counts from the hourly rollup and
    the plates from the raw rows of the same window. With stack="camera", `series`: each of
    the busiest cameras' counts per bucket (the rest as one series), for a stacked chart.

    The window is widened to whole hours, the rollup's grain. Every hour or day of it has a
    bucket, those without reads too (count 0): a chart shows them as zero, not as a gap.
    """
    start = hour_floor(since)
    end = hour_floor(until)
    if end < until:
        end += timedelta(hours=1)
    tz = stats_zone()
    rollup = EventStatistics.objects.filter(bucket__gte=start, bucket__lt=end)
    raw = PlateEvent.objects.filter(captured_at__gte=start, captured_at__lt=end)
    if camera is not None:
        rollup, raw = rollup.filter(camera_id=camera), raw.filter(camera_id=camera)
    if zone is not None:
        rollup, raw = rollup.filter(zone_id=zone), raw.filter(zone_id=zone)
    sums = {
        "count": Sum("event_count"),
        "confidence_sum": Sum("confidence_sum"),
        "confidence_count": Sum("confidence_count"),
    }
    if camera is None and zone is None:
        # Whole days from the daily figures, the hours around them from the hourly ones: a
        # month is some 30 rows per zone, not 720.
        edges, days = window_parts(start, end, tz)
        plate_sets = plate_sets_window(start=start, end=end, tz=tz)
        if interval == "hour":
            bucket_rows = (
                PlateCountSet.objects.filter(
                    period=PlateCountSet.Period.HOUR, start__gte=start, start__lt=end
                )
                .values(
                    "confidence_sum", "confidence_count", bucket=F("start"), count=F("event_count")
                )
                .order_by("start")
            )
        else:  # the days' and the edge hours' totals are in their plate sets
            bucket_rows = [
                {
                    "bucket": row.start,
                    "count": row.event_count,
                    "confidence_sum": row.confidence_sum,
                    "confidence_count": row.confidence_count,
                }
                for row in plate_sets
            ]
        parts = []
        if edges:
            edge_hours = Q()
            for first, last in edges:
                edge_hours |= Q(bucket__gte=first, bucket__lt=last)
            parts.append(EventStatistics.objects.filter(edge_hours))
        if days:
            parts.append(EventDailyStatistics.objects.filter(day__gte=days[0], day__lt=days[1]))
        zone_rows = _zone_sums(parts)
    else:
        bucket_rows = rollup.values("bucket").annotate(**sums).order_by("bucket")
        zone_rows = list(
            rollup.values("zone", "camera").annotate(**sums).order_by("-count", "camera", "zone")
        )

    buckets: dict[datetime, list] = {key: [0, 0.0, 0] for key in bucket_keys(start, end, interval)}
    for row in bucket_rows:
        entry = buckets.setdefault(bucket_key(row["bucket"], interval), [0, 0.0, 0])
        entry[0] += row["count"]
        entry[1] += row["confidence_sum"] or 0.0
        entry[2] += row["confidence_count"] or 0

    # Names afterwards, for the few rows left: joining them in would widen every rollup row.
    zone_names = dict(
        Zone.objects.filter(pk__in={r["zone"] for r in zone_rows if r["zone"]}).values_list(
            "pk", "name"
        )
    )
    slugs = dict(
        Camera.objects.filter(pk__in={r["camera"] for r in zone_rows}).values_list("pk", "slug")
    )
    zones, per_camera = [], {}
    for row in zone_rows:
        row["zone__name"] = zone_names.get(row["zone"])
        row["camera__slug"] = slugs.get(row["camera"], "")
        zones.append(
            {
                "zone": row["zone"],
                "zone_name": row["zone__name"],
                "camera": row["camera"],
                "count": row["count"],
                "average_confidence": _average(row["confidence_sum"] or 0, row["confidence_count"]),
            }
        )
        entry = per_camera.setdefault(row["camera"], [row["camera__slug"], 0, 0.0, 0])
        entry[1] += row["count"]
        entry[2] += row["confidence_sum"] or 0.0
        entry[3] += row["confidence_count"] or 0
    cameras = sorted(
        (
            {
                "camera": camera,
                "camera_slug": slug,
                "count": count,
                "average_confidence": _average(total, counted),
            }
            for camera, (slug, count, total, counted) in per_camera.items()
        ),
        key=lambda item: (-item["count"], item["camera"]),
    )
    total = sum(entry[0] for entry in buckets.values())
    confidence_sum = sum(entry[1] for entry in buckets.values())
    confidence_count = sum(entry[2] for entry in buckets.values())
    if camera is None and zone is None:
        distinct, top_plates = plate_counts_top(plate_counts_sum(plate_sets), top=top)
    else:
        distinct, top_plates = plates_from_rows(raw, top=top)
    series = []
    if stack == "camera" and camera is not None:  # one camera: its series is the buckets
        counts = [entry[0] for _, entry in sorted(buckets.items())]
        series = [{"camera": camera, "counts": counts}] if total else []
    elif stack == "camera":
        series = _camera_series(
            start=start,
            end=end,
            interval=interval,
            filters={"camera_id": camera, "zone_id": zone},
            busiest=[item["camera"] for item in cameras[:STACK_CAMERAS]],
            keys=sorted(buckets),
        )
    return {
        "since": start,
        "until": end,
        "interval": interval,
        "time_zone": settings.TIME_ZONE,
        "total": total,
        "average_confidence": _average(confidence_sum, confidence_count),
        "buckets": [
            {"start": key, "count": c, "average_confidence": _average(s, n)}
            for key, (c, s, n) in sorted(buckets.items())
        ],
        "cameras": cameras,
        "zones": zones,
        "distinct_plates": distinct,
        "top_plates": top_plates,
        "series": series,
    }


def bucket_key(moment: datetime, interval: str) -> datetime:
    """The bucket holding `moment`: its local hour, or its local calendar day (the day's
    midnight, whatever the offset that day)."""
    if interval == "hour":
        return hour_floor(moment)
    tz = stats_zone()
    # day_start, as bucket_keys: where a daylight-saving change skips midnight the day
    # starts at 01:00, and a made-up 00:00 would be a second bucket for the same day.
    return day_start(moment.astimezone(tz).date(), tz).astimezone(tz)


def bucket_keys(start: datetime, end: datetime, interval: str) -> list[datetime]:
    """Every bucket of [start, end) (local hour starts), with or without reads."""
    tz = stats_zone()
    if interval == "hour":
        return [hour.astimezone(tz) for hour in local_hours(start, end, tz)]
    day, last = start.astimezone(tz).date(), (end - timedelta(microseconds=1)).astimezone(tz)
    keys = []
    while day <= last.date():
        keys.append(day_start(day, tz).astimezone(tz))
        day += timedelta(days=1)
    return keys


#: Cameras with a series of their own in a stacked answer; the others share one (camera null).
STACK_CAMERAS = 8


def _camera_series(*, start, end, interval, filters, busiest, keys) -> list[dict]:
    """Per camera of `busiest` (and one series for all others), its count in each bucket of
    `keys`, from the hourly rollup (and the daily one for whole days, by day): the cameras are
    folded in SQL, so a month of hours is some 720 rows per series, whatever the cameras."""
    filters = {name: value for name, value in filters.items() if value is not None}
    series_of = Case(When(camera_id__in=busiest, then=F("camera_id")), default=Value(None))
    parts = [(EventStatistics.objects, "bucket", [(start, end)])]
    if interval == "day":
        edges, days = window_parts(start, end, stats_zone())
        parts = [(EventStatistics.objects, "bucket", edges)]
        if days:
            parts.append((EventDailyStatistics.objects, "day", [days]))
    counts: dict[int | None, dict[datetime, int]] = {}
    for manager, column, ranges in parts:
        for first, last in ranges:
            rows = (
                manager.filter(**{f"{column}__gte": first, f"{column}__lt": last}, **filters)
                .annotate(series=series_of)
                .values_list(column, "series")
                .annotate(count=Sum("event_count"))
                .order_by()
            )
            for moment, camera, count in rows:
                per_bucket = counts.setdefault(camera, {})
                key = bucket_key(moment, interval)
                per_bucket[key] = per_bucket.get(key, 0) + count
    order = [camera for camera in busiest if camera in counts] + ([None] if None in counts else [])
    return [
        {"camera": camera, "counts": [counts[camera].get(key, 0) for key in keys]}
        for camera in order
    ]


def event_statistics_cameras(*, counts: list[dict], camera: int | None, zone: int | None):
    """The per-camera rows of a statistics answer with each camera's name, last news (a read
    or a heartbeat) and state by the live map's rule, as of now (not cached with the counts):
    without a filter every camera, those without reads in the window too (count 0)."""
    cameras = Camera.objects.only("pk", "slug", "name", "status", "last_seen_at")
    if camera is not None or zone is not None:
        cameras = cameras.filter(pk__in={row["camera"] for row in counts} | {camera} - {None})
    liveness, now = camera_liveness(), timezone.now()
    found = {row["camera"]: row for row in counts}
    rows = [
        {
            "camera": item.pk,
            "camera_slug": item.slug,
            "camera_name": item.name,
            "count": found.get(item.pk, {}).get("count", 0),
            "average_confidence": found.get(item.pk, {}).get("average_confidence"),
            "last_seen_at": item.last_seen_at,
            "state": liveness.state_of(item, now=now),
        }
        for item in cameras
    ]
    return sorted(rows, key=lambda row: (-row["count"], row["camera"]))


def _zone_sums(parts: list[QuerySet]) -> list[dict]:
    """Per-(camera, zone) sums of the rows of these rollups (hourly, daily), most events first,
    in one statement: UNION ALL of the parts, grouped."""
    if not parts:
        return []
    columns = ("camera_id", "zone_id", "event_count", "confidence_sum", "confidence_count")
    selects = []
    params: list = []
    for number, part in enumerate(parts):
        sql, part_params = part.order_by().values_list(*columns).query.sql_with_params()
        selects.append(f"SELECT {', '.join(columns)} FROM ({sql}) AS part{number}")
        params += part_params
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT camera_id, zone_id, SUM(event_count), SUM(confidence_sum),"
            f" SUM(confidence_count) FROM ({' UNION ALL '.join(selects)}) AS rollup"
            " GROUP BY camera_id, zone_id ORDER BY 3 DESC, camera_id, zone_id",
            params,
        )
        names = ("camera", "zone", "count", "confidence_sum", "confidence_count")
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def plates_from_rows(events: QuerySet[PlateEvent], *, top: int) -> tuple[int, list[dict]]:
    """(distinct plates, the top `top` plates by count, then plate) of these events, read from
    the rows: the path of filtered statistics, and what the plate count sets must equal."""
    # One pass: the plates' counts, and (COUNT(*) OVER () after the grouping) how many plates
    # there are (the camera's or zone's index finds the rows; a hash aggregate counts them).
    rows = list(
        events.values("plate")
        .annotate(count=Count("*"), plates=Window(Count("*")))
        .order_by("-count", "plate")[:top]
    )
    return (
        rows[0]["plates"] if rows else 0,
        [{"plate": row["plate"], "count": row["count"]} for row in rows],
    )


def event_statistics_cached(**query) -> dict:
    """event_statistics, cached until the rollup next changes (its latest rolled_at is part
    of the key) and at most STATS_CACHE_SECONDS: dashboards repeat the same question every
    few seconds."""
    from django.core.cache import cache

    seconds = settings.STATS_CACHE_SECONDS
    if not seconds:
        return event_statistics(**query)
    generation = EventStatistics.objects.order_by("-rolled_at").values_list("rolled_at", flat=True)
    generation = generation.first()
    start = hour_floor(query["since"])
    end = hour_floor(query["until"])
    if end < query["until"]:
        end += timedelta(hours=1)
    key = "events:stats:" + "|".join(
        str(part)
        for part in (
            generation.timestamp() if generation else 0,
            settings.TIME_ZONE,
            start.timestamp(),
            end.timestamp(),
            query.get("interval"),
            query.get("camera"),
            query.get("zone"),
            query.get("top"),
            query.get("stack"),
        )
    )
    body = cache.get(key)
    if body is None:
        body = event_statistics(**query)
        cache.set(key, body, seconds)
    return body
