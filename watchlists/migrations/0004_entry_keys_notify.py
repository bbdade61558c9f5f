"""Every process keeps an index of all entry keys (watchlists/entry_index.py):
statement-level triggers on the entries and their further keys tell it, on its own channel,
that a change committed (one notification per statement, so an import of a million entries
sends one). PostgreSQL only."""

from django.db import migrations

CHANNEL = "anpr_watchlist_entries"  # watchlists.entry_index.CHANNEL
FUNCTION = "anpr_watchlist_entries_changed"
TABLES = ("watchlists_watchlistentry", "watchlists_watchlistentrykey")

CREATE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
    RETURN NULL;
END
$$
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(CREATE_FUNCTION)
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {FUNCTION} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {FUNCTION} ON {table}")
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")


class Migration(migrations.Migration):
    dependencies = [("watchlists", "0003_hit_notify_emails")]

    operations = [migrations.RunPython(forwards, backwards)]
