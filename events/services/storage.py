"""The SQL of ingest: one statement writes a call's rows, skipping keys the device already used.

Hand-written rather than `bulk_create`: a retry must answer the first row's id, and on
PostgreSQL the single-read INSERT is a prepared statement and a batch goes through COPY.
Image files are written inside the caller's transaction and removed again if it rolls back.
"""

import hashlib
import json
import uuid
from functools import cache

import psycopg
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, connection, connections

from cameras.models import EdgeDevice
from events.models import PlateEvent

FIELDS = PlateEvent._meta.concrete_fields
COLUMNS = tuple(f.column for f in FIELDS)
INDEX = {f.name: i for i, f in enumerate(FIELDS)}


def image_write(name: str, content: bytes, written: list[str]) -> None:
    saved = default_storage.save(name, ContentFile(content))
    written.append(saved)
    if saved != name:  # the storage renamed it (a name clash): never overwrite a file
        raise RuntimeError(f"Image name {name} is taken; refusing to overwrite it.")


def images_delete(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)


def rows_insert(*, device: EdgeDevice, rows: list[list]) -> dict[str, uuid.UUID]:
    """Insert the rows, skipping those whose (device, key) exists; returns {key: first id}
    for every skipped row (None if that row vanished meanwhile). One INSERT statement, plus
    one SELECT if any were skipped."""
    if connection.vendor == "postgresql":
        return _rows_insert_postgresql(device=device, rows=rows)
    return _rows_insert_generic(device=device, rows=rows)


JSON_FIELDS = frozenset(i for i, f in enumerate(FIELDS) if f.get_internal_type() == "JSONField")
_TABLE = PlateEvent._meta.db_table
#: The batch staging table: temporary (one per session, emptied at each commit), named after
#: the column list so that a session opened before a migration never copies into an old shape.
STAGE = "anpr_event_stage_" + hashlib.sha256(" ".join(COLUMNS).encode()).hexdigest()[:10]


@cache
def _pg_statements() -> dict[str, str]:
    """The PostgreSQL statements of `_rows_insert_postgresql` (built once)."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(c) for c in COLUMNS)
    conflict = (
        f"ON CONFLICT ({quote('device_id')}, {quote('idempotency_key')}) DO NOTHING "
        f"RETURNING {quote('id')}"
    )
    values = ", ".join("%s::jsonb" if i in JSON_FIELDS else "%s" for i in range(len(FIELDS)))
    return {
        "one": f"INSERT INTO {quote(_TABLE)} ({columns}) VALUES ({values}) {conflict}",
        "stage": (
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE} (LIKE {quote(_TABLE)}) "
            "ON COMMIT DELETE ROWS"
        ),
        "copy": f"COPY {STAGE} ({columns}) FROM STDIN",
        # Emptying the stage in the same statement: a batch inside a caller's transaction
        # must not see the previous batch's rows. Rows go in ordered by the unique key, not
        # in the request's order: two batches sharing keys (a device's retry while the first
        # post still runs, perhaps reversed) then wait on each other's keys in one order,
        # never each on the other (a deadlock).
        "staged": f"WITH staged AS (DELETE FROM {STAGE} RETURNING {columns}) "
        f"INSERT INTO {quote(_TABLE)} ({columns}) SELECT {columns} FROM staged "
        f"ORDER BY {quote('idempotency_key')} {conflict}",
    }


def _pg_values(row: list) -> list:
    """The row as PostgreSQL takes it: JSON fields as JSON text, None as NULL (as the ORM
    stores a JSONField's None), the rest as they are."""
    return [
        _json_text(value) if i in JSON_FIELDS and value is not None else value
        for i, value in enumerate(row)
    ]


def _json_text(value) -> str:
    if value == [] or value == {}:  # most reads carry no candidates: no encoder call
        return "[]" if isinstance(value, list) else "{}"
    return json.dumps(value)


def _rows_insert_postgresql(*, device, rows) -> dict[str, uuid.UUID]:
    """One row: INSERT … VALUES … ON CONFLICT DO NOTHING RETURNING id. A batch: COPY into
    the session's staging table, then one statement moves them into the table with ON CONFLICT
    DO NOTHING RETURNING id (COPY formats rows in C; binding one array per column costs
    several times more)."""
    statements = _pg_statements()
    if len(rows) == 1:
        inserted = {row[0] for row in _prepared(statements["one"], _pg_values(rows[0]))}
    else:
        with connection.cursor() as cursor:
            cursor.execute(statements["stage"])
            with cursor.copy(statements["copy"]) as copy:
                for row in rows:
                    copy.write_row(_pg_values(row))
            cursor.execute(statements["staged"])
            inserted = {row[0] for row in cursor.fetchall()}
    if len(inserted) == len(rows):
        return {}
    skipped = [row[INDEX["idempotency_key"]] for row in rows if row[0] not in inserted]
    first = _first_ids(device=device, keys=skipped)
    return {key: first.get(key) for key in skipped}


def _prepared(sql: str, params: list) -> list[tuple]:
    """Run a statement of the hot path as a prepared statement of this connection (psycopg's
    server-side binding): PostgreSQL parses and plans the single-read INSERT once per
    connection and shape of parameter types (a None, an int's size: a few shapes), not once per
    request, and no parameter is quoted into the text. psycopg prepares it again after a
    rollback. Django's cursors bind client-side; its error wrapping is kept."""
    database = connections[DEFAULT_DB_ALIAS]  # once: each access is a context lookup
    database.ensure_connection()
    with database.wrap_database_errors, psycopg.Cursor(database.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall()


def _rows_insert_generic(*, device, rows) -> dict[str, uuid.UUID]:
    """SQLite: INSERT … ON CONFLICT DO NOTHING for all rows (executemany), then the ids of
    the keys: a key whose id is not the one we generated was there before."""
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(_TABLE)} ({', '.join(quote(c) for c in COLUMNS)}) "
        f"VALUES ({', '.join(['%s'] * len(COLUMNS))}) "
        f"ON CONFLICT ({quote('device_id')}, {quote('idempotency_key')}) DO NOTHING"
    )
    prepared = [
        [
            field.get_db_prep_save(value, connection)
            for field, value in zip(FIELDS, row, strict=True)
        ]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, prepared)
    key_index = INDEX["idempotency_key"]
    first = _first_ids(device=device, keys=[row[key_index] for row in rows])
    return {
        row[key_index]: first.get(row[key_index])
        for row in rows
        if first.get(row[key_index]) != row[0]
    }


def _first_ids(*, device, keys: list[str]) -> dict[str, uuid.UUID]:
    return dict(
        PlateEvent.objects.filter(device=device, idempotency_key__in=keys).values_list(
            "idempotency_key", "id"
        )
    )
