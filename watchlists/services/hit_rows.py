"""The statements that store a hit, in plain SQL built once from the models: they run inside
the transaction of every read that hits, where composing them through the ORM took longer
than running them (about twice to three times as long, for each of the three, measured).

Values pass through each field's own conversion for the database (get_db_prep_value and
get_db_prep_save, what the ORM's compilers call), and entries are read with core.db, so
both backends store and load what the ORM would.
"""

from datetime import datetime
from functools import cache

from django.db import connection

from core.db import fetch_models, select_columns

from ..models import Hit, WatchlistEntry


@cache
def _statements(vendor: str) -> dict[str, str]:
    quote = connection.ops.quote_name
    hits = quote(Hit._meta.db_table)
    columns = ", ".join(quote(field.column) for field in Hit._meta.concrete_fields)
    marks = ", ".join(["%s"] * len(Hit._meta.concrete_fields))
    subject, camera, event, captured = (
        quote(Hit._meta.get_field(name).column)
        for name in ("subject", "camera", "event", "captured_at")
    )
    return {
        "exists": (
            f"SELECT EXISTS (SELECT 1 FROM {hits} WHERE {subject} = %s AND {camera} = %s "
            f"AND ({event} = %s OR {captured} BETWEEN %s AND %s))"
        ),
        "insert": f"INSERT INTO {hits} ({columns}) VALUES ({marks})",
        "entries": (
            f"SELECT {select_columns(WatchlistEntry, 'e')} "
            f"FROM {quote(WatchlistEntry._meta.db_table)} e "
            f"WHERE e.{quote(WatchlistEntry._meta.pk.column)} IN "
        ),
    }


def _value(model, name: str, value):
    return model._meta.get_field(name).get_db_prep_value(value, connection, prepared=False)


def hit_exists(*, subject: str, camera_id: int, event_id, since: datetime, until: datetime) -> bool:
    """Whether a hit of this subject at this camera is of this read or captured within
    [since, until]."""
    params = [
        subject,
        camera_id,
        _value(Hit, "event", event_id),
        _value(Hit, "captured_at", since),
        _value(Hit, "captured_at", until),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_statements(connection.vendor)["exists"], params)
        return bool(cursor.fetchone()[0])


def entries_load(*, ids: list) -> dict:
    """{id: entry} of these entries (those that still exist; a read's few)."""
    if not ids:
        return {}
    sql = _statements(connection.vendor)["entries"] + f"({', '.join(['%s'] * len(ids))})"
    entries = fetch_models(WatchlistEntry, sql, [_value(WatchlistEntry, "id", i) for i in ids])
    return {entry.pk: entry for entry in entries}


def hit_insert(*, hit: Hit) -> None:
    """INSERT the hit as Model.save() would (its defaults and auto_now_add fields set), and
    mark it stored, as save() does."""
    fields = Hit._meta.concrete_fields
    params = [field.get_db_prep_save(field.pre_save(hit, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(_statements(connection.vendor)["insert"], params)
    hit._state.adding = False
    hit._state.db = connection.alias
