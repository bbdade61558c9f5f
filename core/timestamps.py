"""Times from outside (query filters, request fields, ingest, cursors): only what PostgreSQL
stores and Python's datetime can compute with.

PostgreSQL refuses a UTC offset beyond ±15:59 ("time zone displacement out of range"): a
query filter `until=4283-06-10T23:25:55-16:19` was a 500. Python's datetime ends at the years
1 and 9999, and a statistics window at that edge overflowed its day arithmetic. Real offsets
span -12:00..+14:00 and no event predates 2000, so the range is generous and keeps a year of
room on either side. Every time parameter and field uses the classes below (or
`timestamp_check`), so each refuses the same values with the same 400 naming it; the admin's
change lists refuse such a time typed into their URL (a 400, as for any lookup they refuse).
"""

from datetime import UTC, datetime, time, timedelta

import django_filters
from django import forms
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from rest_framework import serializers

#: Accepted instants: from the start of year 2 up to (not including) year 9999, in UTC.
EARLIEST = datetime(2, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
#: PostgreSQL accepts offsets up to ±15:59:59.
OFFSET_LIMIT = timedelta(hours=16)


def timestamp_check(value: datetime) -> datetime:
    """`value` itself when PostgreSQL can store it (a naive time is read as UTC); else
    ValueError with a sentence for the API."""
    offset = value.utcoffset()
    if offset is not None and abs(offset) >= OFFSET_LIMIT:
        raise ValueError("The UTC offset must be between -15:59 and +15:59 (e.g. Z or +01:00).")
    try:
        moment = value.astimezone(UTC) if offset is not None else value.replace(tzinfo=UTC)
    except OverflowError:
        moment = None
    if moment is None or not EARLIEST <= moment < LATEST:
        raise ValueError("Must be between the years 2 and 9998 (UTC).")
    return value


class TimestampFormField(django_filters.fields.IsoDateTimeField):
    """django-filter's ISO 8601 field, held to `timestamp_check`."""

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is not None:
            try:
                timestamp_check(moment)
            except ValueError as error:
                raise forms.ValidationError(str(error), code="invalid") from None
        return moment


class TimestampFilter(django_filters.IsoDateTimeFilter):
    """The filter of every time query parameter: a 400 naming it for a time out of range."""

    field_class = TimestampFormField


class TimestampField(serializers.DateTimeField):
    """DRF's DateTimeField, held to `timestamp_check` (before DRF converts the value to the
    current time zone, so the offset that was sent is the one checked)."""

    def enforce_timezone(self, value):
        try:
            timestamp_check(value)
        except ValueError as error:
            raise serializers.ValidationError(str(error), code="invalid") from None
        return super().enforce_timezone(value)


class TimestampLookupsAdmin:
    """A ModelAdmin mixin: a change list's time lookup (its date filters and hierarchy, or one
    typed into the URL) must hold a time PostgreSQL can store, else it is refused (a 400)."""

    _TIME_LOOKUPS = frozenset(("", "exact", "gt", "gte", "lt", "lte", "in", "range"))

    def lookup_allowed(self, lookup, value, request=None):
        name, _, rest = lookup.partition("__")
        try:
            field = self.model._meta.get_field(name)
        except FieldDoesNotExist:
            field = None
        # DateTimeField is a DateField; `in` and `range` hold several times, split on commas.
        if isinstance(field, models.DateField) and rest in self._TIME_LOOKUPS and value:
            for each in value.split(",") if rest in ("in", "range") else [value]:
                try:
                    moment = field.to_python(each)
                    if not isinstance(moment, datetime):
                        moment = datetime.combine(moment, time())  # a date: its midnight
                    timestamp_check(moment)
                except (ValidationError, ValueError, TypeError):
                    return False
        return super().lookup_allowed(lookup, value, request)
