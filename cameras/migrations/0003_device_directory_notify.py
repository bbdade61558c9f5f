"""PostgreSQL triggers that tell every process's device cache (cameras/directory.py) that a
device, key, camera, camera assignment or zone changed. Updates of bookkeeping columns alone
(last_seen_at, written by every busy device once a minute, and updated_at) do not count.
Nothing on SQLite, which has no cache."""

from django.db import migrations

CHANNEL = "anpr_device_directory"  # cameras.directory.CHANNEL
FUNCTION = "anpr_device_directory_changed"
#: table: columns whose change alone is not a change of the directory
WATCHED = {
    "cameras_edgedevice": ("last_seen_at", "updated_at"),
    "cameras_devicekey": (),
    "cameras_camera": ("last_seen_at", "updated_at"),
    "cameras_edgedevice_cameras": (),
    "cameras_zone": ("updated_at",),
}

CREATE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND TG_LEVEL = 'ROW'
       AND to_jsonb(OLD) - TG_ARGV::text[] = to_jsonb(NEW) - TG_ARGV::text[] THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
    RETURN NULL;
END
$$
"""


def triggers_create(table: str, ignored: tuple[str, ...]) -> list[str]:
    arguments = ", ".join(f"'{column}'" for column in ignored)
    return [
        f"CREATE TRIGGER {FUNCTION} AFTER INSERT OR UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}({arguments})",
        f"CREATE TRIGGER {FUNCTION}_truncate AFTER TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()",
    ]


def triggers_drop(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {FUNCTION} ON {table}",
        f"DROP TRIGGER IF EXISTS {FUNCTION}_truncate ON {table}",
    ]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(CREATE_FUNCTION)
    for table, ignored in WATCHED.items():
        for statement in triggers_create(table, ignored):
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in WATCHED:
        for statement in triggers_drop(table):
            schema_editor.execute(statement)
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")


class Migration(migrations.Migration):
    dependencies = [("cameras", "0002_model_help_texts")]

    operations = [migrations.RunPython(forwards, backwards)]
