"""The live stream's filter: which cameras, zones and confidence one client wants (set at
connect from the query string, or later with a `filter` message; events.consumers)."""

from dataclasses import asdict, dataclass
from urllib.parse import parse_qs

from core.ids import ascii_integer


class FilterError(ValueError):
    """A filter value that is not acceptable, with messages per field."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True)
class StreamFilter:
    """Which events one client wants; empty lists and None mean no restriction."""

    cameras: tuple[int, ...] = ()
    zones: tuple[int, ...] = ()
    min_confidence: float | None = None

    @classmethod
    def from_values(cls, *, cameras=None, zones=None, min_confidence=None) -> "StreamFilter":
        errors: dict[str, list[str]] = {}
        parsed = {}
        for name, raw in (("cameras", cameras), ("zones", zones)):
            try:
                parsed[name] = _ids(raw)
            except ValueError as error:
                errors[name] = [str(error)]
        try:
            parsed["min_confidence"] = _confidence(min_confidence)
        except ValueError as error:
            errors["min_confidence"] = [str(error)]
        if errors:
            raise FilterError(errors)
        return cls(**parsed)

    @classmethod
    def from_query_string(cls, query_string: bytes) -> "StreamFilter":
        query = parse_qs(query_string.decode("latin-1"))
        return cls.from_values(
            cameras=",".join(query.get("cameras", [])) or None,
            zones=",".join(query.get("zones", [])) or None,
            min_confidence=(query.get("min_confidence") or [None])[-1],
        )

    def matches(self, *, camera: int, zone: int | None, confidence: float | None) -> bool:
        if not self.in_scope(camera=camera, zone=zone):
            return False
        if self.min_confidence is not None and (
            confidence is None or confidence < self.min_confidence
        ):
            return False
        return True

    def in_scope(self, *, camera: int, zone: int | None) -> bool:
        """The cameras and zones part alone (frames of other kinds, such as hits: a read's
        confidence thins the reads shown, never the alerts)."""
        return (not self.cameras or camera in self.cameras) and (
            not self.zones or zone in self.zones
        )

    def as_json(self) -> dict:
        return {**asdict(self), "cameras": list(self.cameras), "zones": list(self.zones)}


def _ids(raw) -> tuple[int, ...]:
    """A list of ids, or the same as a comma-separated string (query strings)."""
    if raw is None or raw == "":
        return ()
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list):
        raise ValueError("Must be a list of ids.")
    ids = []
    for item in items:
        if isinstance(item, str) and (number := ascii_integer(item.strip())) is not None:
            item = number
        if not isinstance(item, int) or isinstance(item, bool) or item < 1:
            raise ValueError(f"{item!r} is not an id (a positive integer).")
        ids.append(item)
    return tuple(sorted(set(ids)))


def _confidence(raw) -> float | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise ValueError("Must be a number between 0 and 1.")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError("Must be a number between 0 and 1.") from None
    if not 0 <= value <= 1:
        raise ValueError("Must be a number between 0 and 1.")
    return value
