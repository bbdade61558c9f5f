"""The match keys of plates: what a watchlist entry is indexed under and a read looked up by.

One OCR-confusion table (events.reads.plate_confusion_key, the search's `q`) folds plates for
the `ocr` strategy. An entry's own row holds its key (the plate, or the folded plate). An
extra edit budget adds a deletion neighbourhood: the entry is also stored under its folded
plate with up to `budget` characters deleted, a read looks up its own
deletions, and two plates within `budget` edits always share a key. Shared keys are only
candidates: `plate_edits` measures the real distance, so a swap of two characters (two edits)
never passes for one.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations

from events.reads import plate_confusion_key, plate_normalize

EXACT, OCR, PATTERN = "exact", "ocr", "pattern"
#: Shortest plate that an extra edit applies to, by budget (a free edit on a short plate
#: matches too much).
BUDGET_MIN_LENGTH = {1: 6, 2: 7}
#: Largest list that may have an extra edit, by budget (a free edit on a large list floods
#: false hits).
BUDGET_MAX_ENTRIES = {1: 100_000, 2: 10_000}
#: Largest pattern list: pattern entries cannot be keyed, every read tries them all.
PATTERN_MAX_ENTRIES = 1_000
#: Fewest letters and digits in a pattern (`*?*` or `A*` would match nearly every plate).
PATTERN_MIN_LITERALS = 2


def plate_budget(plate: str, budget: int) -> int:
    """The edit budget that applies to this plate: lowered until the plate is long enough."""
    while budget and len(plate) < BUDGET_MIN_LENGTH[budget]:
        budget -= 1
    return budget


def _deletions(key: str, count: int) -> set[str]:
    """The key (a strategy letter, then a folded plate) with up to `count` characters of its
    plate deleted, itself included."""
    variants, plate = {key}, key[1:]
    if count and len(plate) > 1:  # one deletion: the common case, by slices
        variants.update([key[:i] + key[i + 1 :] for i in range(1, len(key))])
    for n in range(2, count + 1):
        if len(plate) - n < 1:
            break
        variants.update(
            key[0] + "".join(c for i, c in enumerate(plate) if i not in dropped)
            for dropped in combinations(range(len(plate)), n)
        )
    return variants


def entry_match_key(*, strategy: str, plate: str) -> str:
    """The one key an entry is stored under on its own row (empty for a pattern)."""
    if strategy == EXACT:
        return "E" + plate
    if strategy == OCR:
        return "O" + plate_confusion_key(plate)
    return ""


def entry_variant_keys(*, strategy: str, plate: str, budget: int) -> set[str]:
    """The further keys of an entry on a list with an edit budget: its folded plate with
    up to `budget` characters deleted (rows of WatchlistEntryKey)."""
    if strategy != OCR or not budget:
        return set()
    folded = plate_confusion_key(plate)
    own = "O" + folded
    return _deletions(own, plate_budget(folded, budget)) - {own}


@dataclass(slots=True)
class ReadKeys:
    """The keys reads are looked up by: their own (plate and folded plate), and for lists
    with an edit budget their deletions, which only entries of such lists can share (an
    entry of a list without a budget is one edit or more away from a read it shares a
    deletion with)."""

    own: set[str]
    deletions: set[str]


def read_keys(plates: Iterable[str], *, strategies: Iterable[str], budget: int) -> ReadKeys:
    """The keys these normalized plates (a read's, its candidates') are looked up by, for
    lists of these strategies and up to `budget`."""
    own, deletions = set(), set()
    exact, ocr = EXACT in strategies, OCR in strategies
    for plate in plates:
        if exact:
            own.add("E" + plate)
        if not ocr:
            continue
        folded = "O" + plate_confusion_key(plate)
        own.add(folded)
        # The read may be shorter than an entry long enough for an edit: its own deletions
        # are needed whenever the entry's side could have a budget.
        if budget:
            deletions |= _deletions(folded, budget)
    deletions -= own
    return ReadKeys(own, deletions)


def plate_distance(entry: str, read: str, *, limit: int) -> int | None:
    """The edits between two folded plates, or None beyond `limit`: what plate_edits
    counts, without the table for up to one edit (the budget of nearly every list), as this
    verifies each entry sharing a key with a read."""
    if entry == read:
        return 0
    if limit == 0 or abs(len(entry) - len(read)) > limit:
        return None
    if limit > 1:
        found = plate_edits(entry, read, limit=limit)
        return None if found is None else found[0]
    if len(entry) == len(read):  # one substitution
        return 1 if sum(a != b for a, b in zip(entry, read, strict=True)) == 1 else None
    shorter, longer = sorted((entry, read), key=len)  # one insertion or deletion
    at = next((i for i, c in enumerate(shorter) if c != longer[i]), len(shorter))
    return 1 if shorter[at:] == longer[at + 1 :] else None


def plate_edits(entry: str, read: str, *, limit: int) -> tuple[int, list[list[str]]] | None:
    """(edits, [[entry char, read char], ...]) between two folded plates, or None beyond
    `limit`. Substitutions list both characters; an insertion or deletion has "" on one side.
    """
    if abs(len(entry) - len(read)) > limit:
        return None
    rows, cols = len(entry) + 1, len(read) + 1
    cost = [[0] * cols for _ in range(rows)]
    for i in range(rows):
        cost[i][0] = i
    for j in range(cols):
        cost[0][j] = j
    for i in range(1, rows):
        for j in range(1, cols):
            cost[i][j] = min(
                cost[i - 1][j] + 1,
                cost[i][j - 1] + 1,
                cost[i - 1][j - 1] + (entry[i - 1] != read[j - 1]),
            )
    if cost[-1][-1] > limit:
        return None
    changes, i, j = [], rows - 1, cols - 1
    while i or j:
        if i and j and cost[i][j] == cost[i - 1][j - 1] + (entry[i - 1] != read[j - 1]):
            if entry[i - 1] != read[j - 1]:
                changes.append([entry[i - 1], read[j - 1]])
            i, j = i - 1, j - 1
        elif i and cost[i][j] == cost[i - 1][j] + 1:
            changes.append([entry[i - 1], ""])
            i -= 1
        else:
            changes.append(["", read[j - 1]])
            j -= 1
    return cost[-1][-1], changes[::-1]


def pattern_check(pattern: str) -> str:
    """The normalized pattern (`?` one character, `*` any run), or ValueError."""
    cleaned = "".join(c for c in pattern.upper() if c in "?*" or plate_normalize(c))
    if sum(c not in "?*" for c in cleaned) < PATTERN_MIN_LITERALS:
        raise ValueError(
            f"A pattern needs at least {PATTERN_MIN_LITERALS} letters or digits "
            "(it would match nearly every plate)."
        )
    return cleaned
