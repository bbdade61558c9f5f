"""`benchmark ingest --watchlist`: single reads with 3 candidates (1% of them a listed
plate) against a running server, with the lists `benchmark_watchlists --keep` left (named
bench-...) enabled and disabled, round by round in alternating order; the median ratio of
the rates is the cost of the lists at ingest. Enabling or disabling a list has every worker
rebuild its entry index (watchlists/entry_index.py, in the background): each change is
followed by `settle` seconds of unmeasured load (--settle), whose rate after enabling is
printed too (what ingest does while the workers rebuild)."""

import os
import statistics
import tempfile

from django.core.management.base import CommandError, OutputWrapper
from django.db import connection

from cameras.services import device_key_issue
from devtools.benchmark.fill import CAMERAS, BenchmarkSite
from devtools.benchmark.ingest import IngestLoad, _count_settled, _rate, _vacuum, _wrk
from events.models import PlateEvent
from watchlists.models import Hit, Watchlist, WatchlistEntry

LISTED_PLATES = 1000


def watchlist_ingest_measure(
    *, base_url: str, site: BenchmarkSite, load: IngestLoad, settle: int, stdout: OutputWrapper
) -> dict[str, str]:
    """The rates with and without the bench lists, and their ratio (median of the rounds);
    `settle` seconds of load after each enable or disable are not measured."""
    lists = Watchlist.objects.filter(name__startswith="bench-")
    ids = list(lists.values_list("pk", flat=True))
    if not ids:
        raise CommandError("No bench-... list: run manage.py benchmark_watchlists --keep first.")
    others = list(
        Watchlist.objects.filter(enabled=True).exclude(pk__in=ids).values_list("pk", flat=True)
    )
    plates = WatchlistEntry.objects.filter(watchlist_id__in=ids).values_list("plate", flat=True)
    key = device_key_issue(device=site.device).key
    url = base_url + "/api/events/ingest/"
    runs: dict[bool, list[dict]] = {True: [], False: []}
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as listed:
        listed.write("\n".join(plates[:LISTED_PLATES]) + "\n")
        listed.flush()
        env = {
            **os.environ,
            "BENCH_KEY": key,
            "BENCH_CAMERAS": str(CAMERAS),
            "BENCH_CANDIDATES": "3",
            "BENCH_LISTED": listed.name,
        }
        try:
            Watchlist.objects.filter(pk__in=others).update(enabled=False)
            _vacuum()
            lists.update(enabled=True)
            # Long enough for every worker to build its entry index (in the background).
            _wrk(env, "post_event.lua", url, load.clients, max(60, 2 * load.duration))
            state, rebuilding = True, []
            for number in range(1, load.rounds + 1):
                for enabled in (True, False) if number % 2 else (False, True):
                    if enabled != state:
                        Watchlist.objects.filter(pk__in=ids).update(enabled=enabled)
                        settling = _wrk(env, "post_event.lua", url, load.clients, settle)
                        if enabled:
                            rebuilding.append(settling)
                        state = enabled
                    runs[enabled].append(
                        _wrk(env, "post_event.lua", url, load.clients, load.duration)
                    )
                ratio = runs[True][-1]["req_per_s"] / runs[False][-1]["req_per_s"]
                stdout.write(
                    f"== round {number}: lists on {_rate(runs[True][-1])}; "
                    f"off {_rate(runs[False][-1])}; {ratio:.2f}x"
                )
        finally:
            Watchlist.objects.filter(pk__in=ids).update(enabled=True)
            Watchlist.objects.filter(pk__in=others).update(enabled=True)
    ratios = [
        on["req_per_s"] / off["req_per_s"] for on, off in zip(runs[True], runs[False], strict=True)
    ]
    _clean(site=site, lists=ids)
    off_rate = statistics.median(run["req_per_s"] for run in runs[False])
    # Which of a pair runs first sways its rate on a busy machine: with as many rounds of
    # each order, the geometric mean cancels that out (the median of an odd count cannot).
    return {
        "watchlist on / off": (
            f"median {statistics.median(ratios):.2f}x, geometric mean "
            f"{statistics.geometric_mean(ratios):.2f}x "
            f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
        ),
        f"the first {settle} s after enabling / off": ", ".join(
            f"{run['req_per_s'] / off_rate:.2f}x" for run in rebuilding
        ),
    }


def _clean(*, site: BenchmarkSite, lists: list) -> None:
    """The runs' hits and reads, removed again (hits first: they point at the reads), once
    the requests wrk left in the server are stored."""
    _count_settled()
    Hit.objects.filter(watchlist_id__in=lists).delete()
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {connection.ops.quote_name(PlateEvent._meta.db_table)} "
            "WHERE device_id = %s AND idempotency_key LIKE %s",
            [site.device.pk, "wrk%"],
        )
    _vacuum()
