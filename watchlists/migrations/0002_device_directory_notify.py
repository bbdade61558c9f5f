"""The device cache (cameras/directory.py) also holds the lists watching each camera (the
matching step's `work_sql`): triggers tell it when a list, or the cameras or zones it
watches, change. Entries are looked up at each read and need none. PostgreSQL only."""

from django.db import migrations

FUNCTION = "anpr_device_directory_changed"  # created by cameras 0003
TABLES = ("watchlists_watchlist", "watchlists_watchlist_cameras", "watchlists_watchlist_zones")


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {FUNCTION} AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()"
        )
        schema_editor.execute(
            f"CREATE TRIGGER {FUNCTION}_truncate AFTER TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {FUNCTION} ON {table}")
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {FUNCTION}_truncate ON {table}")


class Migration(migrations.Migration):
    dependencies = [
        ("cameras", "0003_device_directory_notify"),
        ("watchlists", "0001_watchlists_entries_hits"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
