"""The edge vendors' own payloads, mapped to `ReadIn` (one small module per vendor).

A dialect module translates: it reads the vendor's document as published, scales the vendor's
confidences to 0..1, turns Unix times into aware datetimes and base64 crops into `ImageIn`
(ISO time strings pass through: the service reads a naive time as UTC; a crop that is not
base64 is an unusable image, left out by the service with a warning, not a refused body).
The ingest service then applies our rules (this device's cameras, plate, future times,
images by content) exactly as for the native API. A document that is not the vendor's
shape raises Django's ValidationError naming the vendor's field (`data.results[0].score`):
a 400 from the API. Dialects only translate: the body is read by the device-ingest protocol
(events/api/device_ingest.py), and what they map is written by the services.
"""

import base64
import binascii
from datetime import UTC, datetime

from django.core.exceptions import ValidationError

from events.reads import ImageIn


def invalid(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})


def as_dict(value, field: str) -> dict:
    if not isinstance(value, dict):
        raise invalid(field, "Must be a JSON object.")
    return value


def as_list(value, field: str) -> list:
    """A JSON array; a missing (null) one is empty."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(field, "Must be a JSON array.")
    return value


def text(value, field: str) -> str:
    """A string field; numbers (vendors send camera ids as numbers) become their text."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise invalid(field, "Must be a string.")
    return str(value).strip()


def optional_number(value, field: str, *, scale: float = 1.0) -> float | None:
    """A number divided by the vendor's scale (100 for OpenALPR's percentages); "" is None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(field, "Must be a number.")
    return float(value) / scale


def best(items, field: str, *, key: str = "score") -> dict | None:
    """The highest-scored object of a vendor's ranked list (they are usually sorted already)."""
    ranked = [item for item in as_list(items, field) if isinstance(item, dict)]
    if not ranked:
        return None
    return max(ranked, key=lambda item: item.get(key) or 0)


def _epoch(value, field: str, divisor: float) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(field, "Must be a Unix time (a number).")
    try:
        return datetime.fromtimestamp(value / divisor, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise invalid(field, "Is not a valid Unix time.") from None


def epoch_seconds(value, field: str) -> datetime:
    return _epoch(value, field, 1)


def epoch_millis(value, field: str) -> datetime:
    return _epoch(value, field, 1000)


def base64_image(value, field: str, filename: str) -> ImageIn | None:
    """A base64-encoded image (OpenALPR's `*_crop_jpeg`); the service checks its content.
    Text that is not base64 (the vendors' documentation samples hold a placeholder) is an
    image the service leaves out with a warning: the plate read is still stored."""
    if value in (None, ""):
        return None
    unusable = ImageIn(b"", filename, error=f"{field} is not base64-encoded image data")
    if not isinstance(value, str):
        return unusable
    try:
        # agents (OpenALPR 2.8) may drop the trailing "=" padding
        content = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return unusable
    return ImageIn(content=content, filename=filename)


def compact(**values) -> dict:
    """Metadata without the empty values."""
    return {key: value for key, value in values.items() if value not in (None, "", [], {})}
