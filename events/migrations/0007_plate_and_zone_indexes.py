"""One plate index instead of two, and the zone index only over events that have a zone.

Every index costs each ingest: the plate btree (plate=) and the pattern index of 0003
(plate_prefix) become one pattern-ops index, which serves both; events without a zone add
no entry to the zone index. On PostgreSQL the indexes are built and dropped CONCURRENTLY,
so devices keep posting while a large events table is upgraded.
"""

from django.db import migrations, models, transaction

NEW = (
    models.Index(
        fields=("plate", "-captured_at"),
        opclasses=("varchar_pattern_ops", ""),
        name="event_plate",
    ),
    models.Index(
        fields=("zone", "-captured_at", "-id"),
        condition=models.Q(zone__isnull=False),
        name="event_zoned_captured",
    ),
)
OLD = (
    models.Index(fields=("plate", "-captured_at"), name="event_plate_captured"),
    models.Index(fields=("zone", "-captured_at", "-id"), name="event_zone_captured"),
)
#: Made by 0003 on PostgreSQL only (raw SQL, not in the model state).
OLD_PREFIX_SQL = "CREATE INDEX {concurrently} IF NOT EXISTS event_plate_prefix ON {table} (plate varchar_pattern_ops)"
DROP_PREFIX_SQL = "DROP INDEX {concurrently} IF EXISTS event_plate_prefix"


def _swap(apps, schema_editor, add, remove, prefix_sql):
    model = apps.get_model("events", "PlateEvent")
    if schema_editor.connection.vendor != "postgresql":
        with transaction.atomic(using=schema_editor.connection.alias):
            for index in add:
                schema_editor.add_index(model, index)
            for index in remove:
                schema_editor.remove_index(model, index)
        return
    # Outside a transaction each step stands alone: a build that failed (cancelled, timed
    # out) leaves an INVALID index behind, dropped here so that migrate can simply be rerun.
    for index in add:
        schema_editor.execute(
            f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(index.name)}"
        )
        schema_editor.add_index(model, index, concurrently=True)
    for index in remove:
        schema_editor.remove_index(model, index, concurrently=True)
    schema_editor.execute(
        prefix_sql.format(
            concurrently="CONCURRENTLY", table=schema_editor.quote_name(model._meta.db_table)
        )
    )


def forwards(apps, schema_editor):
    _swap(apps, schema_editor, NEW, OLD, DROP_PREFIX_SQL)


def backwards(apps, schema_editor):
    _swap(apps, schema_editor, OLD, NEW, OLD_PREFIX_SQL)


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY run outside a transaction

    dependencies = [
        ("events", "0006_plate_count_sets"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                *(migrations.RemoveIndex("plateevent", index.name) for index in OLD),
                *(migrations.AddIndex("plateevent", index) for index in NEW),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
