"""Entries and their match keys: every write of an entry goes through here, so its keys
(watchlists/keys.py) always agree with its plate and its list's matching."""

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from events.reads import plate_normalize

from .. import keys
from ..models import Hit, Watchlist, WatchlistEntry, WatchlistEntryKey


def plate_for_list(*, watchlist: Watchlist, raw: str) -> str:
    """The stored form of an entered plate: normalized, or a checked pattern."""
    if watchlist.match_strategy == keys.PATTERN:
        try:
            return keys.pattern_check(raw)
        except ValueError as error:
            raise ValidationError({"plate": str(error)}) from None
    plate = plate_normalize(raw)
    if not plate:
        raise ValidationError({"plate": "A plate needs at least one letter or digit."})
    return plate


def entry_keys_write(*, watchlist: Watchlist, entries: Iterable[tuple]) -> int:
    """Store the further keys of (entry id, plate) pairs of a list with an edit budget
    (COPY on PostgreSQL); a list without one has none."""
    if not watchlist.edit_budget:
        return 0
    rows = (
        (entry_id, key)
        for entry_id, plate in entries
        for key in keys.entry_variant_keys(
            strategy=watchlist.match_strategy, plate=plate, budget=watchlist.edit_budget
        )
    )
    if connection.vendor != "postgresql":
        made = [WatchlistEntryKey(entry_id=e, key=k) for e, k in rows]
        WatchlistEntryKey.objects.bulk_create(made, batch_size=2000)
        return len(made)
    count = 0
    table = connection.ops.quote_name(WatchlistEntryKey._meta.db_table)
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY {table} (entry_id, key) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def watchlist_rekey(*, watchlist: Watchlist) -> None:
    """Rebuild every key of a list (its strategy or edit budget changed)."""
    with transaction.atomic():
        WatchlistEntryKey.objects.filter(entry__watchlist=watchlist).delete()
        entries = list(WatchlistEntry.objects.filter(watchlist=watchlist).only("pk", "plate"))
        for entry in entries:
            entry.match_key = keys.entry_match_key(
                strategy=watchlist.match_strategy, plate=entry.plate
            )
        WatchlistEntry.objects.bulk_update(entries, ["match_key"], batch_size=5000)
        entry_keys_write(watchlist=watchlist, entries=((e.pk, e.plate) for e in entries))


def watchlist_save(*, watchlist: Watchlist, matching_before: tuple | None) -> Watchlist:
    """Save a list (already validated); its keys follow a change of its matching."""
    with transaction.atomic():
        watchlist.save()
        if matching_before is not None and matching_before != (
            watchlist.match_strategy,
            watchlist.edit_budget,
        ):
            watchlist_rekey(watchlist=watchlist)
    return watchlist


def entry_room_check(*, watchlist: Watchlist) -> None:
    """ValidationError (naming `plate`) when the list has no room for one more entry."""
    if watchlist.match_strategy == keys.PATTERN:
        limit, why = keys.PATTERN_MAX_ENTRIES, "A pattern list holds"
    elif watchlist.edit_budget:
        limit = keys.BUDGET_MAX_ENTRIES[watchlist.edit_budget]
        why = f"A list with an edit budget of {watchlist.edit_budget} holds"
    else:
        return
    if WatchlistEntry.objects.filter(watchlist=watchlist).count() >= limit:
        raise ValidationError({"plate": f"{why} at most {limit:,} entries."})


def entry_save(*, entry: WatchlistEntry) -> WatchlistEntry:
    """Create or change one entry (validated by the caller), with its keys; a new entry
    must fit its list (entry_room_check)."""
    if entry._state.adding:
        entry_room_check(watchlist=entry.watchlist)
    entry.match_key = keys.entry_match_key(
        strategy=entry.watchlist.match_strategy, plate=entry.plate
    )
    with transaction.atomic():
        entry.save()
        WatchlistEntryKey.objects.filter(entry=entry).delete()
        entry_keys_write(watchlist=entry.watchlist, entries=[(entry.pk, entry.plate)])
    return entry


def entries_delete(*, entry_ids: list) -> None:
    """Delete entries with their keys in chunks; their hits stay (entry emptied), keeping
    their snapshots."""
    with transaction.atomic():
        for start in range(0, len(entry_ids), 10_000):
            WatchlistEntry.objects.filter(pk__in=entry_ids[start : start + 10_000]).delete()


def watchlist_delete(*, watchlist: Watchlist) -> None:
    """Delete a list with its entries, keys and hits. Entries and keys go by plain DELETEs
    (Django's cascade would load every entry of a million-entry list first); only the
    list's own hits can point at its entries, and they go first."""
    quote = connection.ops.quote_name
    entries = quote(WatchlistEntry._meta.db_table)
    further = quote(WatchlistEntryKey._meta.db_table)
    with transaction.atomic():
        Hit.objects.filter(watchlist=watchlist).delete()
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {further} WHERE entry_id IN "
                f"(SELECT id FROM {entries} WHERE watchlist_id = %s)",
                [watchlist.pk],
            )
            cursor.execute(f"DELETE FROM {entries} WHERE watchlist_id = %s", [watchlist.pk])
        watchlist.delete()
