"""Events as CSV, for spreadsheets: a header of the one representation's keys
(events.representation), then one row per event, read from the database in chunks.

Plates, vehicle makes, camera names and metadata come from devices and operators, and a
spreadsheet runs a cell that starts with = + - @ (or a tab or carriage return before one) as a
formula. Such text cells get a leading apostrophe, as OWASP's CSV injection guidance advises:
the spreadsheet shows the text, and a reader of the file sees why.
"""

import csv
import json
from collections.abc import Iterator

from django.db.models import QuerySet

from .models import PlateEvent
from .representation import ImageLink, plate_event_document, plate_event_document_keys

#: The first characters that make a spreadsheet read a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Events read from the database at a time, and written out as one piece of the body.
CHUNK_ROWS = 500


def csv_cell(value) -> str | int | float:
    """A document value as a CSV cell: empty for None, JSON for metadata and candidates,
    text that a spreadsheet would run as a formula behind an apostrophe. Numbers stay numbers
    (this representation has no text that looks like a negative number)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Lines:
    """A file whose write() hands back what the csv writer formatted (Django's streaming CSV
    recipe), so rows are joined into chunks rather than written anywhere."""

    def write(self, line: str) -> str:
        return line


def plate_events_csv_chunks(
    *, events: QuerySet[PlateEvent], image_link: ImageLink
) -> Iterator[str]:
    """The CSV text of `events` (in their order) in pieces of CHUNK_ROWS rows: the header
    first. Reads the rows with `.iterator()` (a server-side cursor on PostgreSQL), so only one
    chunk of events is in memory at a time."""
    chunk_rows = CHUNK_ROWS
    writer = csv.writer(_Lines(), lineterminator="\r\n")
    keys = plate_event_document_keys()
    yield writer.writerow(keys)
    lines: list[str] = []
    for event in events.iterator(chunk_size=chunk_rows):
        document = plate_event_document(event=event, image_link=image_link)
        lines.append(writer.writerow([csv_cell(document[key]) for key in keys]))
        if len(lines) >= chunk_rows:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)
