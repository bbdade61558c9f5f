"""Bounds on JSON that comes from outside: how deep a value nests and how large it is.

A value nested some 1,000 levels deep parses and is stored, and then breaks whatever decodes
it again (psycopg hands jsonb to json.loads, which runs into Python's recursion limit): one
device read made the event list answer 500 for every user. So each JSON value we store from
outside holds at most MAX_DEPTH levels and MAX_BYTES of JSON text, refused with a 400 naming
the field: model fields through BoundedJSONField (the admin and the API agree), ingest through
`json_bounds_error` (events/services/). Bodies are parsed by `json_parse` (or the API's
JSONParser, core/api_defaults.py), which refuse a document nested more than BODY_MAX_DEPTH
levels as malformed, so no later step (validation, error messages) recurses that deep. Device
bodies (native and vendor) are read by `json_document` (events/api/device_ingest.py) under the
same rule, which skips the walk when the text has too few brackets to nest that deep.
"""

import json

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.forms.fields import InvalidJSONInput

#: Levels of nesting a stored value may have ([] and {} are one level, a scalar none). The
#: vendors' documents we know nest at most 8.
MAX_DEPTH = 32
#: Characters of a stored value's JSON text (ASCII, as json.dumps writes it).
MAX_BYTES = 64 * 1024
#: Levels a request body may nest: room for a stored value inside a body's own structure.
BODY_MAX_DEPTH = 2 * MAX_DEPTH

TOO_DEEP = f"Nested deeper than {MAX_DEPTH} levels."
BODY_TOO_DEEP = f"The JSON is nested deeper than {BODY_MAX_DEPTH} levels."


def json_depth_exceeds(value, limit: int) -> bool:
    """Whether containers in `value` nest more than `limit` levels. Level by level, not
    recursive, and it stops at the first level past the limit."""
    level = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below = []
        for container in level:
            items = container.values() if isinstance(container, dict) else container
            below.extend(item for item in items if isinstance(item, dict | list))
        level = below
    return False


def json_bounds_error(value, encoded: str | None = None) -> str | None:
    """Why a value is out of bounds (a sentence for the API), or None.

    `encoded` is the value's json.dumps text when the caller has it already (ingest encodes
    every value anyway, to refuse NaN and NUL): its length is the size, and since a value
    cannot nest deeper than it has brackets, counting them (in C) spares the walk for all
    but values with more than MAX_DEPTH brackets. Scalars and empty values are in bounds
    (their size is bounded by the body's)."""
    if not value or not isinstance(value, dict | list):
        return None
    if encoded is None:
        if json_depth_exceeds(value, MAX_DEPTH):
            return TOO_DEEP  # before json.dumps, which recurses as deep as the value nests
        try:
            encoded = json.dumps(value)
        except (TypeError, ValueError):
            return None  # not JSON at all: the field's own validation says so
    if len(encoded) > MAX_BYTES:
        return f"At most {MAX_BYTES} bytes of JSON (got {len(encoded)})."
    if encoded.count("[") + encoded.count("{") > MAX_DEPTH and json_depth_exceeds(value, MAX_DEPTH):
        return TOO_DEEP
    return None


def validate_json_bounds(value) -> None:
    """The model field validator of `json_bounds_error`."""
    problem = json_bounds_error(value)
    if problem:
        raise ValidationError(problem, code="json_bounds")


def json_parse(raw: str | bytes):
    """json.loads, refusing a document nested more than BODY_MAX_DEPTH levels (or too deep
    for Python's parser) with the ValueError malformed JSON raises, so each caller answers it
    as it answers bad JSON."""
    return json_body_bounded(lambda: json.loads(raw))


def json_body_bounded(parse):
    """What `parse()` returns, or ValueError(BODY_TOO_DEEP) for a document nested more than
    BODY_MAX_DEPTH levels or too deep for Python's parser: the one rule for every body parser
    (json_parse, the API's JSONParser)."""
    try:
        value = parse()
    except RecursionError:
        raise ValueError(BODY_TOO_DEEP) from None
    if json_depth_exceeds(value, BODY_MAX_DEPTH):
        raise ValueError(BODY_TOO_DEEP)
    return value


class BoundedJSONFormField(forms.JSONField):
    """The admin's JSON field: text nested too deep for Python's parser is invalid input."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        except RecursionError:
            raise ValidationError(TOO_DEEP, code="invalid") from None

    def bound_data(self, data, initial):
        try:
            return super().bound_data(data, initial)
        except RecursionError:
            return InvalidJSONInput(data)  # shown back as typed, like other invalid JSON


class BoundedJSONField(models.JSONField):
    """A JSONField of at most MAX_DEPTH levels and MAX_BYTES. The bound is checked before
    JSONField's own validation, which encodes the value (recursing as deep as it nests);
    as a default validator it also reaches DRF's serializer field."""

    default_validators = [validate_json_bounds]

    def validate(self, value, model_instance):
        validate_json_bounds(value)
        super().validate(value, model_instance)

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": BoundedJSONFormField, **kwargs})
