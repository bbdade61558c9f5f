"""Plain-SQL reads for the hot paths, returning rows as model instances.

Composing a queryset costs several times the query itself on the ingest path; these helpers
run the SQL as written and type each column exactly as the ORM would (backend converters,
then the field's own), so the instances behave like ones the ORM loaded.
"""

from functools import cache

from django.db import connection
from django.db.models import Model


@cache
def select_columns(model: type[Model], alias: str) -> str:
    """`alias.col1, alias.col2, …` for every concrete field of the model, in field order."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(f.column)}" for f in model._meta.concrete_fields)


@cache
def _converters(model: type[Model], vendor: str) -> tuple[list[str], list[tuple]]:
    """The attribute names and the column converters of a model (worked out once)."""
    fields = model._meta.concrete_fields
    converters = []
    for index, field in enumerate(fields):
        column = field.get_col(model._meta.db_table)
        found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        converters += [(index, column, convert) for convert in found]
    return [f.attname for f in fields], converters


def fetch_models(model: type[Model], sql: str, params: list, *, extras=()) -> list[Model]:
    """Run `sql` (which selects `select_columns(model, …)` first) and build instances; the
    columns after the model's become attributes named by `extras`."""
    names, converters = _converters(model, connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    instances = []
    width = len(names)
    for row in rows:
        values = list(row[:width])
        for index, column, convert in converters:
            values[index] = convert(values[index], column, connection)
        instance = model.from_db(connection.alias, names, values)
        for name, value in zip(extras, row[width:], strict=False):
            setattr(instance, name, value)
        instances.append(instance)
    return instances
