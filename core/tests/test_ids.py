"""Event and delivery ids are version 7 UUIDs: unique, and in the order they were made."""

import time
import uuid

from core.ids import time_ordered_uuid


def test_ids_are_rfc_9562_version_7_and_carry_their_millisecond():
    before = time.time_ns() // 1_000_000
    made = time_ordered_uuid()
    after = time.time_ns() // 1_000_000
    assert made.version == 7 and made.variant == uuid.RFC_4122
    assert before <= made.int >> 80 <= after


def test_ids_made_later_sort_later_and_never_repeat():
    ids = []
    for _ in range(5):
        ids += [time_ordered_uuid() for _ in range(2000)]
        time.sleep(0.002)
    assert len(set(ids)) == len(ids)
    milliseconds = [made.int >> 80 for made in ids]
    assert milliseconds == sorted(milliseconds)
    assert ids[-1] > ids[0] and str(ids[-1]) > str(ids[0])  # also as text
