"""A watchlist's active schedule: weekdays and time windows in the list's own time zone."""

from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError


def _clock(value, field: str) -> time | None:
    """'HH:MM' as a time; '24:00' (the end of the day) as None; anything else refused."""
    if value == "24:00":
        return None
    if isinstance(value, str) and len(value) == 5 and value[2] == ":":
        try:
            return time.fromisoformat(value)
        except ValueError:
            pass
    raise ValidationError({field: f"{value!r} is not a time of day as HH:MM."})


def schedule_windows_check(windows) -> list[tuple[time, time | None]]:
    """[{"start": "HH:MM", "end": "HH:MM"}, ...] as (start, end) pairs, or a ValidationError
    naming `schedule_windows`: a window must be non-empty (start before end; end "24:00" for
    midnight; one crossing midnight is two windows) and windows must not overlap."""
    field = "schedule_windows"
    if not isinstance(windows, list):
        raise ValidationError({field: "Must be a list of {start, end} windows."})
    pairs = []
    for number, window in enumerate(windows, 1):
        if not isinstance(window, dict) or set(window) != {"start", "end"}:
            raise ValidationError({field: f"Window {number} must be {{start, end}}."})
        start = _clock(window["start"], field)
        if start is None:
            raise ValidationError({field: f"Window {number} cannot start at 24:00."})
        end = _clock(window["end"], field)
        if end is not None and end <= start:
            raise ValidationError(
                {field: f"Window {number} is empty: it must end after it starts."}
            )
        pairs.append((start, end))
    ordered = sorted(pairs)
    for (_, end), (start, _) in zip(ordered, ordered[1:], strict=False):
        if end is None or end > start:
            raise ValidationError({field: "Windows overlap; merge them into one."})
    return pairs


def weekdays_check(weekdays) -> None:
    if not isinstance(weekdays, list) or not weekdays:
        raise ValidationError({"schedule_weekdays": "List at least one weekday (0 = Monday)."})
    if any(
        not isinstance(day, int) or isinstance(day, bool) or not 0 <= day <= 6 for day in weekdays
    ):
        raise ValidationError({"schedule_weekdays": "Weekdays are 0 (Monday) to 6 (Sunday)."})
    if len(set(weekdays)) != len(weekdays):
        raise ValidationError({"schedule_weekdays": "A weekday is listed twice."})


def time_zone_check(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValidationError({"time_zone": f"Unknown time zone {name!r}."}) from None


def schedule_active(*, weekdays, windows, time_zone: str, at: datetime) -> bool:
    """Whether a list with this schedule is active at `at` (aware), read in its time zone."""
    local = at.astimezone(ZoneInfo(time_zone))
    if local.weekday() not in weekdays:
        return False
    if not windows:
        return True
    clock = local.time().replace(tzinfo=None)
    for window in windows:
        start = time.fromisoformat(window["start"])
        if clock >= start and (
            window["end"] == "24:00" or clock < time.fromisoformat(window["end"])
        ):
            return True
    return False
