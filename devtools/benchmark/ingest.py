"""`benchmark ingest`: wrk posts single native reads (round by round, beside the reference
peer with --peer), then batches, to a running server; what they stored is deleted again."""

import os
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from django.core.management.base import CommandError, OutputWrapper
from django.db import connection

from cameras.services import device_key_issue
from devtools.benchmark.fill import CAMERAS, BenchmarkSite
from devtools.benchmark.servers import peer_run, result_line_parse
from events.models import PlateEvent

WRK_SCRIPTS = Path(__file__).resolve().parent / "wrk"


@dataclass(frozen=True)
class IngestLoad:
    """How hard and how long wrk posts (the command's options)."""

    duration: int
    clients: int
    batch: int
    batch_clients: int
    rounds: int
    peer: bool


def ingest_measure(
    *, base_url: str, site: BenchmarkSite, load: IngestLoad, stdout: OutputWrapper
) -> dict[str, str]:
    """Measure single reads and batches against `base_url`; the summary lines by name."""
    if not shutil.which("wrk"):
        raise CommandError("wrk is not installed (apt-get install wrk).")
    results: dict[str, str] = {}
    key = device_key_issue(device=site.device).key
    env = {**os.environ, "BENCH_KEY": key, "BENCH_CAMERAS": str(CAMERAS)}
    url = base_url + "/api/events/ingest/"
    duration = load.duration
    before = PlateEvent.objects.count()
    _vacuum()  # an earlier run's deleted rows: cleaned now, not by autovacuum mid-run
    _wrk(env, "post_event.lua", url, 16, max(3, duration // 4))  # warm-up
    # This machine's speed drifts by 15% within a minute (PostgreSQL's CPU for the same INSERT
    # did), so the ratio is taken round by round, ours and the peer's back to back in
    # alternating order, and the medians are reported.
    clients = load.clients
    singles, peers = [], []
    for number in range(1, load.rounds + 1):
        peer_first = load.peer and number % 2 == 0
        if peer_first:
            peers.append(peer_run(duration=duration, clients=clients))
        singles.append(_wrk(env, "post_event.lua", url, clients, duration))
        if load.peer and not peer_first:
            peers.append(peer_run(duration=duration, clients=clients))
        line = f"== single events, {clients} clients, round {number}: {_rate(singles[-1])}"
        if load.peer:
            ratio = singles[-1]["req_per_s"] / peers[-1]["req_per_s"]
            line += f"; peer {_rate(peers[-1])}; {ratio:.2f}x"
        stdout.write(line)
    single = _median_run(singles)
    results["ingest single"] = (
        f"{_rate(single)}  non-2xx {sum(run['non2xx'] for run in singles):.0f}"
        f"  (median of {len(singles)} runs)"
    )
    if peers:
        results["reference peer"] = f"{_rate(_median_run(peers))}  (median)"
        ratios = [
            ours["req_per_s"] / peer["req_per_s"] for ours, peer in zip(singles, peers, strict=True)
        ]
        results["single / peer"] = (
            f"{statistics.median(ratios):.2f}x (rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
        )
    env["BENCH_BATCH"] = str(load.batch)
    batch = _wrk(env, "post_batch.lua", url, load.batch_clients, duration)
    rate = batch["req_per_s"] * load.batch
    stdout.write(f"== batches of {load.batch}: {batch}")
    results[f"ingest batch {load.batch}"] = (
        f"{rate:,.0f} events/s  p50 {batch['p50_ms']:.1f} ms  p99 {batch['p99_ms']:.1f} ms"
        f"  non-2xx {batch['non2xx']}"
    )
    stored = _count_settled() - before
    # Removed again, so the queries (and the next run) measure the table that was filled: each
    # run would otherwise add about 200k events. Plain SQL: the ORM's delete would load every
    # row to look for cascades.
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {connection.ops.quote_name(PlateEvent._meta.db_table)} "
            "WHERE device_id = %s AND idempotency_key LIKE %s",
            [site.device.pk, "wrk%"],
        )
    _vacuum()
    stdout.write(f"   {stored} events stored by the ingest runs (deleted again)")
    return results


def _count_settled() -> int:
    """The number of events once it stops growing: wrk stops at its duration with requests
    still in the server (a batch of 500 takes the longest), and rows those store after the
    DELETE below would stay in the table and grow it run by run."""
    count = PlateEvent.objects.count()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = PlateEvent.objects.count()
        if now == count:
            break
        count = now
    return count


def _vacuum() -> None:
    """VACUUM ANALYZE the events table (PostgreSQL), so a measurement neither meets dead rows
    nor shares the machine with an autovacuum of them."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"VACUUM (ANALYZE) {connection.ops.quote_name(PlateEvent._meta.db_table)}"
            )


def _rate(run: dict) -> str:
    return (
        f"{run['req_per_s']:,.0f} events/s  p50 {run['p50_ms']:.1f} ms  p99 {run['p99_ms']:.1f} ms"
    )


def _median_run(runs: list[dict]) -> dict:
    """The run with the median rate (the lower middle one of an even count)."""
    return sorted(runs, key=lambda run: run["req_per_s"])[(len(runs) - 1) // 2]


def _wrk(env: dict, script: str, url: str, connections: int, duration: int) -> dict:
    threads = max(1, min(2, connections))
    output = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(WRK_SCRIPTS / script),
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=duration + 60,
    ).stdout
    return result_line_parse(output, source="wrk")
