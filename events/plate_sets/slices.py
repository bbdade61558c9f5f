"""Bit-sliced plate counts: slice i is a bitset of the plates whose count has bit i set; sets
add up with a ripple-carry adder and the top plates come from a few ANDs and popcounts."""

import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import reduce
from operator import or_

Slices = list[int]


def slices_from_counts(counts: Iterable[tuple[int, int]]) -> Slices:
    """The slices of (plate id, count) pairs (each id once, counts > 0)."""
    counts = list(counts)
    if not counts:
        return []
    width = (max(plate_id for plate_id, _ in counts) >> 3) + 1
    depth = max(count for _, count in counts).bit_length()
    planes = [bytearray(width) for _ in range(depth)]
    for plate_id, count in counts:
        byte, bit = plate_id >> 3, 1 << (plate_id & 7)
        level = 0
        while count:
            if count & 1:
                planes[level][byte] |= bit
            count >>= 1
            level += 1
    return [int.from_bytes(plane, "little") for plane in planes]


def slices_encode(slices: Slices) -> bytes:
    width = (max((s.bit_length() for s in slices), default=0) + 7) >> 3
    return zlib.compress(b"".join(s.to_bytes(width, "little") for s in slices))


def slices_decode(depth: int, blob: bytes) -> Slices:
    if not depth:
        return []
    raw = memoryview(zlib.decompress(blob))
    width = len(raw) // depth
    return [int.from_bytes(raw[i * width : (i + 1) * width], "little") for i in range(depth)]


def slices_add(total: Slices, addend: Slices) -> None:
    """total += addend, plate by plate (a ripple-carry adder over the slices)."""
    carry = 0
    level = 0
    while level < len(addend) or carry:
        a = total[level] if level < len(total) else 0
        if level < len(addend):
            b = addend[level]
            partial = a ^ b
            bits = partial ^ carry
            carry = (a & b) | (partial & carry)
        else:
            bits = a ^ carry
            carry = a & carry
        if level < len(total):
            total[level] = bits
        else:
            total.append(bits)
        level += 1


def plates_present(slices: Slices) -> int:
    """The bitset of plates counted at least once."""
    return reduce(or_, slices, 0)


def slices_count_of(slices: Slices, plate_id: int) -> int:
    return sum(((s >> plate_id) & 1) << level for level, s in enumerate(slices))


def bits_of(bitset: int) -> list[int]:
    """The positions of the set bits, ascending."""
    data = bitset.to_bytes((bitset.bit_length() + 7) >> 3, "little")
    positions = []
    for match in re.finditer(rb"[^\x00]", data):
        base, value = match.start() << 3, data[match.start()]
        while value:
            low = value & -value
            positions.append(base + low.bit_length() - 1)
            value ^= low
    return positions


@dataclass
class TopSplit:
    """The top N plates of a sum as bitsets: `above` (fewer than N plates, each counted more
    often than `threshold`) and `tied` (counted exactly `threshold` times; as many of them as
    N leaves room for, in plate order, complete the top)."""

    above: int
    above_count: int
    tied: int
    threshold: int


def plates_top(slices: Slices, n: int) -> TopSplit:
    """Find the count of the n-th most read plate from the highest bit down: keep the plates
    whose counts agree with the threshold so far (`tied`) and those already above it."""
    tied = plates_present(slices)
    above = above_count = threshold = 0
    for level in range(len(slices) - 1, -1, -1):
        with_bit = tied & slices[level]
        with_bit_count = with_bit.bit_count()
        if above_count + with_bit_count >= n:
            threshold |= 1 << level
            tied = with_bit
        else:
            above |= with_bit
            above_count += with_bit_count
            tied &= ~slices[level]
    return TopSplit(above=above, above_count=above_count, tied=tied, threshold=threshold)
