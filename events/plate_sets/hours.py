"""Local hours and days as UTC instants: what a plate count set covers (DST days have 23 or
25 hours; the hour a DST change repeats is two hours)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

_HOUR = timedelta(hours=1)


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The local midnight of `day`, as a UTC instant."""
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def hour_start(moment: datetime, tz: ZoneInfo) -> datetime:
    """The start of the local hour holding `moment`, as a UTC instant."""
    return moment.astimezone(tz).replace(minute=0, second=0, microsecond=0).astimezone(UTC)


def local_hours(first: datetime, end: datetime, tz: ZoneInfo) -> list[datetime]:
    """The starts of the local hours that begin in [first, end), as UTC instants."""
    hours = []
    hour = hour_start(first, tz)
    if hour < first:
        hour = next_hour(hour, tz)
    while hour < end:
        hours.append(hour)
        hour = next_hour(hour, tz)
    return hours


def next_hour(hour: datetime, tz: ZoneInfo) -> datetime:
    return hour_start(hour.astimezone(UTC) + _HOUR, tz)  # an hour of real time
