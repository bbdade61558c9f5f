"""Plate count sets: how often each plate was read in one hour or one local day, kept by the
statistics rollup so that a month's distinct and top plates are a few dozen bitsets added up
instead of a walk over a million events.

Plates are numbered by StatisticsPlate (dense ids). A set is bit-sliced: slice i is a bitset (a
Python int, bit n standing for plate n) of the plates whose count has bit i set, so

- two sets add up with a ripple-carry adder over their slices (`slices_add`);
- the distinct plates are the popcount of the OR of the slices;
- the top plates come from the count threshold, found bit by bit from the highest slice with
  a few ANDs and popcounts (`plates_top`); only those few plates are then looked up.

Hours are the TIME_ZONE's hours at their true instants (the hour a DST change repeats is two
sets); a day is the hours from one local midnight to the next (23 or 25 of them on DST days).
All cameras are in one set: a camera or zone filter reads the events instead.

The rollup writes them (`plate_sets_recompute`, under its lock), retention re-rolls the hours
it deleted from and forgets plates no event holds any more; `event_statistics` reads them.

Modules: `slices` (the arithmetic), `hours` (local hours and days), `reading` (a window's
counts and top plates), `writing` (the rollup's and retention's writes). The names callers
use are available from this package.
"""

from .hours import day_start, hour_start, local_hours
from .reading import (
    plate_counts_sum,
    plate_counts_top,
    plate_counts_window,
    plate_sets_window,
    window_parts,
)
from .slices import (
    plates_top,
    slices_add,
    slices_count_of,
    slices_decode,
    slices_encode,
    slices_from_counts,
)
from .writing import (
    plate_sets_after_delete,
    plate_sets_forget_before,
    plate_sets_recompute,
    rollup_lock,
    statistics_plates_forget,
)

__all__ = [
    "day_start",
    "hour_start",
    "local_hours",
    "plate_counts_sum",
    "plate_counts_top",
    "plate_counts_window",
    "plate_sets_after_delete",
    "plate_sets_forget_before",
    "plate_sets_recompute",
    "plate_sets_window",
    "plates_top",
    "rollup_lock",
    "slices_add",
    "slices_count_of",
    "slices_decode",
    "slices_encode",
    "slices_from_counts",
    "statistics_plates_forget",
    "window_parts",
]
