"""CSV import and export of a list's entries.

Import reads the file as it streams (UTF-8, with or without a byte-order mark), refuses each
bad line by number and reason, and compares the rest with the stored entries: created,
updated (old and new values: nothing is overwritten unseen), left as they are, and, in
`replace` mode, removed. A dry run answers that report and writes nothing; a real run writes
it in one transaction (new entries and their keys by COPY on PostgreSQL).
"""

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from core.ids import time_ordered_uuid
from events.csv_export import FORMULA_STARTS, csv_cell

from .. import keys
from ..models import Watchlist, WatchlistEntry, WatchlistEntryKey
from .entries import entries_delete, entry_keys_write, plate_for_list

COLUMNS = (
    "plate",
    "description",
    "category",
    "reference",
    "make",
    "colour",
    "country",
    "valid_from",
    "valid_until",
)
#: The compared values of an entry (all columns but the plate, which identifies it).
VALUES = COLUMNS[1:]
UPSERT, REPLACE = "upsert", "replace"
#: Entries listed by name per kind in a report (the counts are always complete).
REPORT_DETAIL_LIMIT = 1000
_CATEGORIES = frozenset(WatchlistEntry.Category.values)
_LENGTHS = {
    name: WatchlistEntry._meta.get_field(name).max_length
    for name in ("description", "reference", "make", "colour", "country")
}


class ImportRefused(Exception):
    """The whole file is refused (no header, a wrong column, not UTF-8, too many entries)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


@dataclass
class ImportReport:
    mode: str
    dry_run: bool
    created: list = field(default_factory=list)
    updated: list = field(default_factory=list)
    removed: list = field(default_factory=list)
    refused: list = field(default_factory=list)
    counts: dict = field(
        default_factory=lambda: dict.fromkeys(
            ("created", "updated", "left", "removed", "refused"), 0
        )
    )

    def note(self, kind: str, detail=None) -> None:
        """Count one line of `kind`; `detail` (a callable making its report item) is called
        only while that kind's list is short enough to show it."""
        self.counts[kind] += 1
        listed = getattr(self, kind, None)
        if listed is not None and (kind == "refused" or len(listed) < REPORT_DETAIL_LIMIT):
            listed.append(detail())

    def as_dict(self) -> dict:
        return {
            "mode": self.mode,
            "dry_run": self.dry_run,
            "counts": self.counts,
            "created": self.created,
            "updated": self.updated,
            "removed": self.removed,
            "refused": self.refused,
        }


def _moment(value: str, zone: ZoneInfo, *, end: bool) -> datetime | None:
    """An ISO date or date-time; a date is its start (valid_from) or the next day's start
    (valid_until); a naive time is read in the list's time zone."""
    if not value:
        return None
    try:
        day = parse_date(value)
        moment = None if day else parse_datetime(value)
    except ValueError:
        day = moment = None
    if day is not None:
        moment = (
            datetime.fromordinal(day.toordinal() + 1) if end else datetime.combine(day, time.min)
        )
    elif moment is None:
        raise ValueError(f"{value!r} is not an ISO date or date-time")
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=zone)
    return moment


def _unescaped(text: str) -> str:
    """A cell as the export wrote it back to what was stored: the apostrophe that keeps a
    spreadsheet from running text as a formula (events.csv_export) comes off."""
    return text[1:] if text[:1] == "'" and text[1:].startswith(FORMULA_STARTS) else text


def _line_parser(header: list[str], *, watchlist: Watchlist, zone: ZoneInfo):
    """parse(row) -> (plate, raw plate, compared values) of one CSV line, or ValueError
    saying why not; columns are found by position once (this runs a million times)."""
    plate_at = header.index("plate")
    positions = [header.index(name) if name in header else None for name in VALUES]
    category_at, from_at, until_at = (
        VALUES.index(n) for n in ("category", "valid_from", "valid_until")
    )
    limits = [(VALUES.index(name), name, limit) for name, limit in _LENGTHS.items()]
    other = WatchlistEntry.Category.OTHER

    def parse(row: list[str]) -> tuple[str, str, tuple]:
        raw = row[plate_at].strip()
        try:
            plate = plate_for_list(watchlist=watchlist, raw=raw)
        except ValidationError as error:
            raise ValueError(f"plate: {error.message_dict['plate'][0]}") from None
        if len(plate) > 32 or len(raw) > 32:
            raise ValueError("plate: longer than 32 characters")
        values = [_unescaped(row[at].strip()) if at is not None else "" for at in positions]
        category = values[category_at] = values[category_at].lower() or other
        if category not in _CATEGORIES:
            raise ValueError(
                f"category: {category!r} is not one of {', '.join(sorted(_CATEGORIES))}"
            )
        for at, name, limit in limits:
            if len(values[at]) > limit:
                raise ValueError(f"{name}: longer than {limit} characters")
        for at, name, end in ((from_at, "valid_from", False), (until_at, "valid_until", True)):
            try:
                values[at] = _moment(values[at], zone, end=end)
            except ValueError as error:
                raise ValueError(f"{name}: {error}") from None
        if values[from_at] and values[until_at] and values[until_at] <= values[from_at]:
            raise ValueError("valid_until: must be after valid_from")
        return plate, raw, tuple(values)

    return parse


def _shown(values: tuple) -> dict:
    return {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name, value in zip(VALUES, values, strict=True)
    }


def _lines(stream) -> tuple[list[str], object]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    # strict: a stray quote is an error, not a field that swallows the following lines.
    reader = csv.reader(text, strict=True)
    try:
        header = next(reader, None)
    except (UnicodeDecodeError, csv.Error) as error:
        raise ImportRefused("file", f"Line 1 cannot be read: {error}.") from None
    if not header:
        raise ImportRefused("file", "The file is empty; it needs a header line.")
    header = [name.strip().lower() for name in header]
    unknown = [name for name in header if name not in COLUMNS]
    if unknown or "plate" not in header or len(set(header)) != len(header):
        raise ImportRefused(
            "file",
            f"The header must name columns of: {','.join(COLUMNS)} (plate required); "
            f"got {','.join(header)}.",
        )
    return header, reader


#: Lines read between two calls of an import's `progress`.
PROGRESS_EVERY = 50_000


def lines_count(stream) -> int:
    """Lines in a binary stream (its newlines, plus an unterminated last line), read in
    chunks; the stream is rewound."""
    count, last = 0, b"\n"
    while chunk := stream.read(1 << 20):
        count += chunk.count(b"\n")
        last = chunk[-1:]
    stream.seek(0)
    return count + (last != b"\n")


def entries_import(
    *,
    watchlist: Watchlist,
    stream,
    mode: str = UPSERT,
    dry_run: bool = False,
    user=None,
    all_or_nothing: bool = False,
    progress=None,
) -> ImportReport:
    """Import a CSV (a binary stream) into a list; see the module docstring.
    `all_or_nothing`: a refused line refuses the whole file (a list fetched from a URL).
    `progress(lines read)` is called every PROGRESS_EVERY lines, outside any transaction."""
    header, reader = _lines(stream)
    parse = _line_parser(header, watchlist=watchlist, zone=ZoneInfo(watchlist.time_zone))
    report = ImportReport(mode=mode, dry_run=dry_run)
    incoming: dict[str, tuple] = {}  # plate: (line, raw, values)
    next_progress = PROGRESS_EVERY
    while True:
        number = reader.line_num + 1  # where the next row starts
        if progress is not None and number > next_progress:
            progress(number - 1)
            next_progress += PROGRESS_EVERY
        try:
            row = next(reader)
        except StopIteration:
            break
        except UnicodeDecodeError:
            raise ImportRefused("file", f"Line {number} is not UTF-8.") from None
        except csv.Error as error:
            reason = str(error)
            if reader.line_num > number:
                reason += f" (lines {number}-{reader.line_num}: a missing closing quote?)"
            report.note("refused", lambda n=number, r=reason: {"line": n, "reason": r})
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if reader.line_num > number:
            reason = (
                f"a quoted field runs over lines {number}-{reader.line_num} "
                "(a missing closing quote?); fields are one line"
            )
            report.note("refused", lambda n=number, r=reason: {"line": n, "reason": r})
            continue
        if len(row) != len(header):
            reason = f"expected {len(header)} fields, got {len(row)}"
            report.note("refused", lambda n=number, r=reason: {"line": n, "reason": r})
            continue
        try:
            plate, raw, values = parse(row)
        except ValueError as error:
            report.note("refused", lambda n=number, e=error: {"line": n, "reason": str(e)})
            continue
        if plate in incoming:
            reason = f"plate {plate} is also on line {incoming[plate][0]}"
            report.note("refused", lambda n=number, r=reason: {"line": n, "reason": r})
            continue
        incoming[plate] = (number, raw, values)
    if all_or_nothing and report.refused:
        first = report.refused[0]
        raise ImportRefused(
            "file",
            f"{report.counts['refused']:,} lines refused, the first line {first['line']}: "
            f"{first['reason']}.",
        )

    stored = {
        plate: (pk, values)
        for pk, plate, *values in WatchlistEntry.objects.filter(watchlist=watchlist).values_list(
            "pk", "plate", *VALUES
        )
    }
    creates, updates = [], []
    for plate, (number, raw, values) in incoming.items():
        old = stored.get(plate)
        if old is None:
            creates.append((plate, raw, values))
            report.note(
                "created",
                lambda n=number, p=plate, v=values: {"line": n, "plate": p, **_shown(v)},
            )
        elif tuple(old[1]) != values:
            updates.append((old[0], values))
            report.note(
                "updated",
                lambda n=number, p=plate, o=tuple(old[1]), v=values: {
                    "line": n,
                    "plate": p,
                    "old": _shown(o),
                    "new": _shown(v),
                },
            )
        else:
            report.counts["left"] += 1
    removes = []
    if mode == REPLACE:
        for plate, (pk, _) in stored.items():
            if plate not in incoming:
                removes.append(pk)
                report.note("removed", lambda p=plate: {"plate": p})
    else:
        report.counts["left"] += len(stored) - report.counts["updated"] - report.counts["left"]
    total = len(stored) + len(creates) - len(removes)
    if watchlist.match_strategy == keys.PATTERN and total > keys.PATTERN_MAX_ENTRIES:
        raise ImportRefused(
            "file",
            f"The list would hold {total:,} patterns, more than a pattern list's "
            f"{keys.PATTERN_MAX_ENTRIES:,}.",
        )
    if watchlist.edit_budget and total > keys.BUDGET_MAX_ENTRIES[watchlist.edit_budget]:
        raise ImportRefused(
            "file",
            f"The list would hold {total:,} entries, more than its edit budget of "
            f"{watchlist.edit_budget} allows ({keys.BUDGET_MAX_ENTRIES[watchlist.edit_budget]:,}).",
        )
    if not dry_run:
        with transaction.atomic():
            entries_delete(entry_ids=removes)
            _entries_update(updates)
            _entries_create(watchlist=watchlist, creates=creates, user=user)
        if connection.vendor == "postgresql" and len(creates) + len(removes) > 10_000:
            _tables_analyze()
    return report


def _tables_analyze() -> None:
    """Fresh planner statistics after a big change, so the key lookups at ingest keep to
    their index (autovacuum gets there too, later)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model in (WatchlistEntry, WatchlistEntryKey):
            cursor.execute(f"ANALYZE {quote(model._meta.db_table)}")


def _entries_update(updates: list[tuple]) -> None:
    now = timezone.now()
    entries = []
    for pk, values in updates:
        entry = WatchlistEntry(pk=pk, updated_at=now, **dict(zip(VALUES, values, strict=True)))
        entries.append(entry)
    WatchlistEntry.objects.bulk_update(entries, [*VALUES, "updated_at"], batch_size=1000)


def _entries_create(*, watchlist: Watchlist, creates: list[tuple], user) -> None:
    now = timezone.now()
    user_id = user.pk if user is not None and user.is_authenticated else None
    made = [(time_ordered_uuid(), plate, raw, values) for plate, raw, values in creates]
    strategy = watchlist.match_strategy
    if connection.vendor == "postgresql":
        columns = (
            "id",
            "watchlist_id",
            "match_key",
            "plate",
            "plate_raw",
            *VALUES,
            "created_by_id",
            "created_at",
            "updated_at",
        )
        table = connection.ops.quote_name(WatchlistEntry._meta.db_table)
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for pk, plate, raw, values in made:
                match_key = keys.entry_match_key(strategy=strategy, plate=plate)
                copy.write_row(
                    (pk, watchlist.pk, match_key, plate, raw, *values, user_id, now, now)
                )
    else:
        WatchlistEntry.objects.bulk_create(
            [
                WatchlistEntry(
                    pk=pk,
                    watchlist=watchlist,
                    plate=plate,
                    match_key=keys.entry_match_key(strategy=strategy, plate=plate),
                    plate_raw=raw,
                    created_by_id=user_id,
                    **dict(zip(VALUES, values, strict=True)),
                )
                for pk, plate, raw, values in made
            ],
            batch_size=1000,
        )
    entry_keys_write(watchlist=watchlist, entries=((pk, plate) for pk, plate, _, _ in made))


def entries_export(*, watchlist: Watchlist):
    """The list's entries as CSV lines (an iterator, for a streaming response), with the
    import's header, so an export imports back unchanged; text a spreadsheet would run as a
    formula gets the apostrophe events.csv_export gives it (the import takes it off)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield line(COLUMNS)
    rows = WatchlistEntry.objects.filter(watchlist=watchlist).order_by("plate")
    for plate_raw, *values in rows.values_list("plate_raw", *VALUES).iterator(chunk_size=5000):
        cells = [plate_raw, *(v.isoformat() if isinstance(v, datetime) else v for v in values)]
        yield line([csv_cell(cell) for cell in cells])
