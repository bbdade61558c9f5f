"""Matching stored reads against the enabled watchlists: the app's after-store step
(events/after_store.py), inside the read's transaction, for new reads and reads refined in
place (Frigate), so a hit commits or rolls back with its read.

Entries are found by their keys (watchlists/keys.py) in this process's entry index
(watchlists/entry_index.py), so deciding a read's hits needs no round trip; where there is
no index (yet), by one lookup in the database. Pattern entries, and only they, are tried one
by one (fnmatch). A hit's entry is loaded when the hit is stored. The lists a read is
matched against come from watching.py. The step also screens reads before their
transaction: one that no covering list can hit stays one INSERT. One hit per entry,
camera and passage: a read of the same subject at the same camera within HIT_REPEAT_SECONDS
(a repeat, a retry under another id, a refinement) adds none. The check holds under
concurrent ingests: on PostgreSQL a transaction-scoped advisory lock on (subject, camera)
makes the second wait for the first's commit and then see its hit.
"""

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from fnmatch import fnmatchcase

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q

from events.after_store import AfterStoreStep
from events.models import PlateEvent
from events.reads import plate_confusion_key, plate_normalize

from .. import keys
from ..entry_index import EntryFound, EntryIndex, entry_index
from ..live import hits_broadcast
from ..models import Hit, Watchlist, WatchlistEntry, WatchlistEntryKey
from .hit_rows import entries_load, hit_exists, hit_insert
from .notify import hit_emails_plan
from .watching import ListInScope, lists_enabled, lists_of_camera_sql, lists_parsed

Kind = Watchlist.Kind
logger = logging.getLogger("anpr.watchlists")

#: A read's candidates beyond the first few are not matched: a device could otherwise make
#: one read look up thousands of plates inside its transaction.
CANDIDATES_MATCHED = 5
#: A plate longer than an entry's field cannot be listed (nor its keys stored): skipped.
PLATE_MAX = WatchlistEntry._meta.get_field("plate").max_length
#: Keys per lookup query, under SQLite's oldest limit of 999 variables (each key is sent
#: twice); a read has at most (1 + CANDIDATES_MATCHED) plates of keys.
KEYS_PER_QUERY = 400


@dataclass
class Match:
    """One entry matched by one plate of a read (the entry is loaded when its hit is stored)."""

    found: EntryFound
    plate: str
    candidate: bool
    cost: int


_UNASKED = object()


def lists_of_camera(camera) -> list[ListInScope] | None:
    """The enabled lists that watch this camera, as the device's camera query answered
    (cached with the device, exact through the triggers of migration 0002); None when the
    camera was loaded without that answer."""
    text = getattr(camera, MATCHING_STEP.work_column, _UNASKED)
    return None if text is _UNASKED else lists_parsed(text)


def _read_plates(event: PlateEvent, *, candidates: bool) -> list[tuple[str, bool]]:
    """(normalized plate, is a candidate) of a read: its plate, then its first
    CANDIDATES_MATCHED candidates; plates longer than PLATE_MAX are skipped."""
    plates = [(event.plate, False)] if event.plate and len(event.plate) <= PLATE_MAX else []
    if candidates and isinstance(event.candidates, list):
        for candidate in event.candidates[:CANDIDATES_MATCHED]:
            raw = candidate.get("plate") if isinstance(candidate, dict) else candidate
            plate = plate_normalize(raw[: PLATE_MAX * 4]) if isinstance(raw, str) else ""
            if plate and len(plate) <= PLATE_MAX and all(plate != p for p, _ in plates):
                plates.append((plate, True))
    return plates


def _cost(found: EntryFound, watchlist: Watchlist, plate: str) -> int | None:
    """The edits between the entry and `plate` if it really matches, else None: a shared
    key is only a candidate (keys.py)."""
    if watchlist.match_strategy == keys.PATTERN:
        return 0 if fnmatchcase(plate, found.key) else None
    if watchlist.match_strategy == keys.EXACT:
        return 0 if found.key == "E" + plate else None
    if not found.key.startswith("O"):
        return None
    folded_entry = found.key[1:]
    limit = keys.plate_budget(folded_entry, watchlist.edit_budget)
    return keys.plate_distance(folded_entry, plate_confusion_key(plate), limit=limit)


def _entry_ids_keyed(wanted: set[str]) -> set:
    """The entries stored under any of these keys (their own, or a further key of a list
    with an edit budget): one round trip of two index lookups, in plain SQL, as this runs
    for every read where there is no entry index (composing querysets costs more than the
    lookups)."""
    quote = connection.ops.quote_name
    entries = quote(WatchlistEntry._meta.db_table)
    further = quote(WatchlistEntryKey._meta.db_table)
    ordered = sorted(wanted)
    found = set()
    with connection.cursor() as cursor:
        for start in range(0, len(ordered), KEYS_PER_QUERY):
            chunk = ordered[start : start + KEYS_PER_QUERY]
            if connection.vendor == "postgresql":
                sql = (
                    f"SELECT id FROM {entries} WHERE match_key = ANY(%s) "
                    f"UNION ALL SELECT entry_id FROM {further} WHERE key = ANY(%s)"
                )
                params = [chunk] * 2
            else:
                marks = ", ".join(["%s"] * len(chunk))
                sql = (
                    f"SELECT id FROM {entries} WHERE match_key IN ({marks}) "
                    f"UNION ALL SELECT entry_id FROM {further} WHERE key IN ({marks})"
                )
                params = chunk * 2
            cursor.execute(sql, params)
            found.update(row[0] for row in cursor.fetchall())
    return found


def _entries_looked_up(*, wanted: set[str], patterned: list[int]) -> list[EntryFound]:
    """What the entry index would answer, from the database (where there is no index yet):
    the entries sharing a key, then the pattern entries of these lists."""
    ids = _entry_ids_keyed(wanted) if wanted else ()
    if not ids and not patterned:
        return []
    query = Q(pk__in=ids)
    if patterned:
        query |= Q(watchlist_id__in=patterned)
    rows = WatchlistEntry.objects.filter(query).order_by()
    return [
        EntryFound(
            entry_id,
            list_id,
            match_key or plate,  # a pattern entry has no key: the pattern
            valid_from and valid_from.timestamp(),
            valid_until and valid_until.timestamp(),
        )
        for entry_id, list_id, match_key, plate, valid_from, valid_until in rows.values_list(
            "id", "watchlist_id", "match_key", "plate", "valid_from", "valid_until"
        )
    ]


def matches_find(
    *, event: PlateEvent, lists: list[ListInScope], index: EntryIndex | None
) -> dict[int, list[Match]]:
    """{list id: matches} of one read against lists already known to cover it: from this
    process's entry index (entry_index.current(), asked once for a batch), or from the
    database when there is none."""
    by_id = {scoped.watchlist.pk: scoped.watchlist for scoped in lists}
    if not by_id:
        return {}
    wants_candidates = any(w.match_candidates for w in by_id.values())
    plates = _read_plates(event, candidates=wants_candidates)
    if not plates:
        return {}
    budget = max((w.edit_budget for w in by_id.values()), default=0)
    strategies = {w.match_strategy for w in by_id.values()}
    patterned = [w.pk for w in by_id.values() if w.match_strategy == keys.PATTERN]
    wanted = keys.read_keys([plate for plate, _ in plates], strategies=strategies, budget=budget)
    if index is not None:
        found = index.entries_found(keys=wanted.own, further=wanted.deletions, patterned=patterned)
    else:
        found = _entries_looked_up(wanted=wanted.own | wanted.deletions, patterned=patterned)
    matches: dict[int, list[Match]] = {}
    seen = set()
    at = event.captured_at.timestamp()
    for entry in found:
        watchlist = by_id.get(entry.watchlist_id)
        if watchlist is None or entry.entry_id in seen or not entry.valid_at(at):
            continue
        for plate, candidate in plates:
            if candidate and not watchlist.match_candidates:
                continue
            cost = _cost(entry, watchlist, plate)
            if cost is not None:
                seen.add(entry.entry_id)
                matches.setdefault(watchlist.pk, []).append(Match(entry, plate, candidate, cost))
                break
    return matches


@dataclass
class HitDraft:
    watchlist: Watchlist
    subject: str
    plate: str
    match: Match | None


def _subject(watchlist: Watchlist, match: Match) -> str:
    """What a repeat is recognised by: the entry, and for a pattern the (folded) plate too,
    so one `AB*` hit does not swallow other cars' hits at the camera."""
    if watchlist.match_strategy == keys.PATTERN:
        return f"{match.found.entry_id}:{plate_confusion_key(match.plate)}"
    return str(match.found.entry_id)


def hits_decide(
    *, event: PlateEvent, lists: list[ListInScope], index: EntryIndex | None
) -> list[HitDraft]:
    """The hits one read raises: alert lists on a listed plate, allow lists on a plate they
    do not list; an ignore list that lists the plate silences allow lists and alert lists of
    lower priority."""
    covering = [scoped for scoped in lists if scoped.covers(event)]
    return _drafts(event=event, covering=covering, index=index)


def _drafts(
    *, event: PlateEvent, covering: list[ListInScope], index: EntryIndex | None
) -> list[HitDraft]:
    """hits_decide for lists known to cover the read (the screen has them at hand)."""
    matches = matches_find(event=event, lists=covering, index=index)
    silenced_below = max(
        (
            s.watchlist.priority
            for s in covering
            if s.watchlist.kind == Kind.IGNORE and s.watchlist.pk in matches
        ),
        default=None,
    )
    drafts = []
    for scoped in covering:
        w = scoped.watchlist
        if w.kind == Kind.ALERT and (silenced_below is None or w.priority >= silenced_below):
            drafts += [HitDraft(w, _subject(w, m), m.plate, m) for m in matches.get(w.pk, [])]
        elif w.kind == Kind.ALLOW and silenced_below is None and w.pk not in matches:
            if event.plate:
                # One hit per list, camera and passage: misreads of one car raise no more.
                drafts.append(HitDraft(w, f"allow:{w.pk}", event.plate, None))
    return drafts


def _substituted(entry: WatchlistEntry, watchlist: Watchlist, plate: str) -> list:
    """The characters that differ as read (confusables included), for the operator."""
    if watchlist.match_strategy != keys.OCR:
        return []
    _, changes = keys.plate_edits(entry.plate, plate, limit=len(entry.plate) + len(plate))
    return changes


def _snapshot(event: PlateEvent, draft: HitDraft, entry: WatchlistEntry | None) -> dict:
    w, m = draft.watchlist, draft.match
    return {
        "watchlist": {
            "id": w.pk,
            "name": w.name,
            "kind": w.kind,
            "colour": w.colour,
            "priority": w.priority,
            "strategy": w.match_strategy,
        },
        "entry": None
        if entry is None
        else {
            "id": str(entry.pk),
            "plate": entry.plate,
            "description": entry.description,
            "category": entry.category,
            "reference": entry.reference,
            "make": entry.make,
            "colour": entry.colour,
            "country": entry.country,
        },
        "read_plate": event.plate,
        "matched_plate": draft.plate,
        "candidate": bool(m and m.candidate),
        "cost": m.cost if m else 0,
        "substituted": _substituted(entry, w, draft.plate) if entry else [],
    }


def _lock(subject: str, camera_id) -> None:
    if connection.vendor == "postgresql":
        digest = hashlib.blake2b(f"{subject}|{camera_id}".encode(), digest_size=8).digest()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest, "big", signed=True)]
            )


#: Attributes of a read object that tell later after-store steps (exporters) its outcome.
_HITS, _MATCHED = "watchlist_hits", "watchlist_lists_matched"


def read_hits(event: PlateEvent) -> list[Hit]:
    """The hits this read raised in the after-store step just run (none if it ran not)."""
    return getattr(event, _HITS, [])


def read_lists_matched(event: PlateEvent) -> set[int]:
    """Ids of the lists this read hit, counting a repeat that raised no new hit (a read
    within HIT_REPEAT_SECONDS of an earlier hit of the same subject)."""
    return getattr(event, _MATCHED, set())


def _repeated(draft: HitDraft, event: PlateEvent, repeat: timedelta) -> bool:
    """Whether the subject already has a hit at this camera within `repeat` (or of this
    read), waiting first for a concurrent ingest of the same subject to commit."""
    _lock(draft.subject, event.camera_id)
    return hit_exists(
        subject=draft.subject,
        camera_id=event.camera_id,
        event_id=event.pk,
        since=event.captured_at - repeat,
        until=event.captured_at + repeat,
    )


def hits_record(*, events: list[PlateEvent], lists: list[ListInScope] | None = None) -> list[Hit]:
    """Match stored reads and store their hits, in the caller's transaction. The lists come
    with each read's camera where the ingest asked for them, else from the database. Each
    read object keeps its outcome for later steps (read_hits, read_lists_matched)."""
    repeat = timedelta(seconds=settings.HIT_REPEAT_SECONDS)
    index = entry_index.current()
    stored = []
    for event in events:
        scoped = lists if lists is not None else lists_of_camera(event.camera)
        if scoped is None:
            lists = scoped = lists_enabled()
        drafts = hits_decide(event=event, lists=scoped, index=index)
        if drafts:
            setattr(event, _MATCHED, {draft.watchlist.pk for draft in drafts})
            setattr(event, _HITS, [])
        # Locked in one order (the index's order is its hashes', salted per process), so a
        # read and its retry in another process never wait for each other's locks.
        repeated = {
            draft.subject
            for draft in sorted(drafts, key=lambda draft: draft.subject)
            if _repeated(draft, event, repeat)
        }
        fresh = [draft for draft in drafts if draft.subject not in repeated]
        entries = entries_load(ids=[draft.match.found.entry_id for draft in fresh if draft.match])
        for draft in fresh:
            m, entry = draft.match, None
            if m is not None:
                entry = entries.get(m.found.entry_id)
                if entry is None or (entry.match_key or entry.plate) != m.found.key:
                    continue  # removed or changed since it was found (or a hash's twin)
            hit = Hit(
                watchlist=draft.watchlist,
                entry=entry,
                event=event,
                camera=event.camera,
                subject=draft.subject,
                plate=draft.plate,
                category=entry.category if entry else "",
                captured_at=event.captured_at,
                snapshot=_snapshot(event, draft, entry),
            )
            hit_insert(hit=hit)
            stored.append(hit)
            getattr(event, _HITS).append(hit)
    return stored


def _events_stored(*, events: list[PlateEvent], created: bool) -> None:
    """A failure to match never costs the reads: their hits are rolled back to a savepoint,
    logged (read ids, never plates), and the reads are stored. Hits go to the live map and
    to their lists' e-mail addresses once their reads commit; rolled-back hits go nowhere."""
    try:
        with transaction.atomic():
            hits = hits_record(events=events)
            if hits:
                transaction.on_commit(lambda: hits_broadcast(hits=hits), robust=True)
    except Exception:
        logger.exception(
            "Watchlist matching failed; reads stored without hits: %s", [e.pk for e in events]
        )
        for event in events:
            event.__dict__.pop(_HITS, None)
            event.__dict__.pop(_MATCHED, None)
        return
    hit_emails_plan(hits=hits)


def _events_screen(*, events: list[PlateEvent]) -> bool:
    """Whether any of these unsaved reads may raise a hit: no when no list covers it, or the
    entry index decides that the lists covering it raise none (then the ingest needs no
    transaction). A read that would hit still may not (a repeat): that takes the database.
    Allow lists hit nearly every read, and without an index the database decides: yes."""
    index = _UNASKED  # asked once for a batch
    for event in events:
        scoped = lists_of_camera(event.camera)
        if scoped is None:
            return True
        covering = [s for s in scoped if s.covers(event)]
        if not covering:
            continue
        if any(s.watchlist.kind == Kind.ALLOW for s in covering):
            return True
        if index is _UNASKED:
            index = entry_index.current()
        if index is None:
            return True
        try:
            if _drafts(event=event, covering=covering, index=index):
                return True
        except Exception:
            return True  # the step runs, and logs the failure without costing the read
    return False


#: Registered by WatchlistsConfig.ready(). Also for reads refined in place (a Frigate object
#: whose plate becomes a listed one). The lists watching each camera are asked with the
#: device's cameras (no step, so no transaction, for a camera no list watches); migration
#: 0002 makes a list's change reach the device cache.
MATCHING_STEP = AfterStoreStep(
    name="watchlists",
    stored=_events_stored,
    updates=True,
    work_sql=lists_of_camera_sql,
    screen=_events_screen,
)
