"""Watchlist figures: importing N entries from a generated CSV, and matching reads (each
with 3 candidates, 1% of them listed with an OCR confusion) in-process against the list,
through the database lookup alone and with this process's entry index."""

import csv
import random
import statistics
import string
import sys
import tempfile
import time
import uuid

from django.test.utils import override_settings
from django.utils import timezone

from cameras.models import Camera
from events.models import PlateEvent
from watchlists.entry_index import entry_index
from watchlists.models import Watchlist
from watchlists.services.importing import entries_import
from watchlists.services.matching import hits_decide
from watchlists.services.watching import lists_enabled

_CHARS = string.ascii_uppercase + string.digits
_SWAPS = {"0": "O", "O": "0", "8": "B", "B": "8", "1": "I", "I": "1", "5": "S", "S": "5"}


def _plate(rng: random.Random) -> str:
    return "".join(rng.choice(_CHARS) for _ in range(7))


def watchlist_import_measure(*, entries: int, budget: int, seed: int = 7) -> tuple[Watchlist, dict]:
    """A new enabled ocr list of `entries` random plates, imported from a CSV file; the time
    of the dry run and the real run."""
    rng = random.Random(seed)
    watchlist = Watchlist.objects.create(
        name=f"bench-{entries}-{budget}-{uuid.uuid4().hex[:6]}",
        match_strategy="ocr",
        edit_budget=budget,
    )
    plates = set()
    while len(plates) < entries:
        plates.add(_plate(rng))
    with tempfile.NamedTemporaryFile("w+", suffix=".csv", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["plate", "description", "category", "reference"])
        for n, plate in enumerate(plates):
            writer.writerow([plate, f"bench entry {n}", "stolen_vehicle", f"case-{n}"])
        file.flush()
        figures = {"entries": entries, "budget": budget, "bytes": file.tell()}
        for dry_run in (True, False):
            with open(file.name, "rb") as stream:
                started = time.perf_counter()
                report = entries_import(watchlist=watchlist, stream=stream, dry_run=dry_run)
                figures["dry_run_s" if dry_run else "import_s"] = round(
                    time.perf_counter() - started, 2
                )
        figures["created"] = report.counts["created"]
    figures["plates"] = sorted(plates)
    return watchlist, figures


def watchlist_match_measure(*, plates: list[str], reads: int = 2000, seed: int = 11) -> dict:
    """µs per read (p50, p99) of deciding a read's hits, with its 3 candidates, against the
    enabled lists, as at ingest: through the key lookup in the database (the index off, as
    without the device cache), and with the entry index (built first, its seconds given). A
    hit's entry is loaded when the hit is stored, not here."""
    with override_settings(DEVICE_CACHE_SECONDS=0):
        database = _match_measure(plates=plates, reads=reads, seed=seed)
    entry_index.forget()
    started = time.perf_counter()
    built = entry_index.wait(600)
    figures = {"database": database, "index_build_s": round(time.perf_counter() - started, 2)}
    if built is not None:
        figures["index_keys"] = built.count
        figures["index_bytes"] = _index_bytes(built)
        figures["index"] = _match_measure(plates=plates, reads=reads, seed=seed)
    return figures


def _index_bytes(index) -> int:
    """What the index holds: its arrays, the own keys (strings) of budget lists' entries and
    the bitmap of their keys."""
    arrays = (index.hashes, index.slots, index.starts, index.lists, index.windows)
    own_keys = sys.getsizeof(index.own_keys) + sum(
        sys.getsizeof(key) for key in index.own_keys.values()
    )
    held = len(index.ids) + own_keys + len(index.budget_bits)
    return sum(a.itemsize * len(a) for a in arrays) + held


def _match_measure(*, plates: list[str], reads: int, seed: int) -> dict:
    rng = random.Random(seed)
    camera = Camera.objects.first() or Camera.objects.create(slug="bench-watch", name="bench")
    lists = lists_enabled()
    timings, unlisted, cpu = [], [], []
    for n in range(reads):
        if n % 100 == 0:  # 1% listed, read with an OCR confusion
            plate = "".join(_SWAPS.get(c, c) for c in rng.choice(plates))
        else:
            plate = _plate(rng)
        candidates = [{"plate": _plate(rng), "confidence": 0.3} for _ in range(3)]
        event = PlateEvent(
            plate=plate,
            candidates=candidates,
            camera=camera,
            captured_at=timezone.now(),
            direction="unknown",
        )
        started, cpu_started = time.perf_counter(), time.thread_time()
        drafts = hits_decide(event=event, lists=lists, index=entry_index.current())
        timings.append((time.perf_counter() - started) * 1e6)
        cpu.append((time.thread_time() - cpu_started) * 1e6)
        if not drafts:
            unlisted.append(timings[-1])
    return {
        "reads": reads,
        "reads_with_hits": reads - len(unlisted),
        **_percentiles(timings, ""),
        # The reads that raise no hit (nearly all).
        **_percentiles(unlisted, "no_hit_"),
        # CPU time of this thread: on a busy machine the wall time's tail is mostly waiting
        # for a core (and the garbage collector's pauses).
        **_percentiles(cpu, "cpu_"),
    }


def _percentiles(timings: list[float], prefix: str) -> dict:
    timings = sorted(timings) or [0.0]
    return {
        f"{prefix}p50_us": round(statistics.median(timings)),
        f"{prefix}p99_us": round(timings[int(len(timings) * 0.99)]),
    }
