"""The per-process entry index (watchlists/entry_index.py) holds the enabled lists' entries
only: a list enabled or disabled, or given another strategy or budget, tells it on the
entries' channel (migration 0004's function), as an entry's change does. PostgreSQL only."""

from django.db import migrations

FUNCTION = "anpr_watchlist_entries_changed"  # created by 0004
TRIGGER = "anpr_watchlist_matching_changed"
TABLE = "watchlists_watchlist"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE TRIGGER {TRIGGER} AFTER UPDATE OF enabled, match_strategy, edit_budget "
        f"ON {TABLE} FOR EACH ROW WHEN ("
        "OLD.enabled IS DISTINCT FROM NEW.enabled "
        "OR OLD.match_strategy IS DISTINCT FROM NEW.match_strategy "
        "OR OLD.edit_budget IS DISTINCT FROM NEW.edit_budget"
        f") EXECUTE FUNCTION {FUNCTION}()"
    )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {TABLE}")


class Migration(migrations.Migration):
    dependencies = [("watchlists", "0006_hit_retention_bounded")]

    operations = [migrations.RunPython(forwards, backwards)]
