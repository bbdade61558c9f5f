"""The device cache (cameras/directory.py) also holds whether any watchlist is enabled (the
matching step's `work_sql`): a trigger tells it when a list is added, removed or enabled or
disabled. PostgreSQL only."""

from django.db import migrations

FUNCTION = "anpr_device_directory_changed"  # created by cameras 0003
TABLE = "watchlists_watchlist"
STATEMENTS = [
    f"CREATE TRIGGER {FUNCTION} AFTER INSERT OR DELETE OR UPDATE OF enabled ON {TABLE} "
    f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()",
    f"CREATE TRIGGER {FUNCTION}_truncate AFTER TRUNCATE ON {TABLE} "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()",
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in STATEMENTS:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {FUNCTION} ON {TABLE}")
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {FUNCTION}_truncate ON {TABLE}")


class Migration(migrations.Migration):
    dependencies = [
        ("cameras", "0003_device_directory_notify"),
        ("watchlists", "0001_watchlists_entries_hits"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
