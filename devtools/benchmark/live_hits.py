"""Hits on the live stream: single reads posted to the ingest at a steady rate, a share of
them listed, and the time from each listed read's POST to its `hit` frame at each client
(`manage.py benchmark_watchlists --live`). Servers, posting and clients are benchmark_live's.
"""

import asyncio
import multiprocessing
import statistics
import time
import uuid

from devtools.benchmark.live import LiveSite, _percentile, _post_events
from devtools.benchmark.servers import LiveServers
from devtools.benchmark.stream_client import StreamClient
from watchlists.models import Watchlist, WatchlistEntry
from watchlists.services.entries import entry_save


def live_hits_plates(*, watchlist: Watchlist, reads: int, listed_share: float) -> list[str]:
    """`reads` new plates in posting order, `listed_share` of them spread evenly and put on
    `watchlist` (exact entries, so each raises its own hit)."""
    tag = uuid.uuid4().hex[:4].upper()
    plates = [f"WL{tag}{number:06d}" for number in range(reads)]
    every = max(1, round(1 / listed_share))
    listed = plates[::every]
    for plate in listed:
        entry_save(
            entry=WatchlistEntry(
                watchlist=watchlist, plate=plate, plate_raw=plate, category="stolen_vehicle"
            )
        )
    return plates


def live_hits_run(
    *,
    servers: LiveServers,
    site: LiveSite,
    plates: list[str],
    listed: set[str],
    rate: float,
    clients: int,
    senders: int = 16,
) -> dict:
    """Post `plates` at `rate` reads/s with `clients` clients listening for hit frames."""
    return asyncio.run(_measure(servers, site, plates, listed, rate, clients, senders))


async def _measure(servers, site, plates, listed, rate, clients, senders) -> dict:
    arrivals: list[tuple[str, float]] = []
    headers = {"Authorization": f"Bearer {site.token}"}
    streams = [
        await StreamClient.connect(
            port=servers.ws_ports[number % len(servers.ws_ports)],
            path=servers.ws_path,
            headers=headers,
            arrivals=arrivals,
            kind="hit",
        )
        for number in range(clients)
    ]
    # One more client times the same listed reads' own event.created frames, for comparison.
    read_arrivals: list[tuple[str, float]] = []
    streams.append(
        await StreamClient.connect(
            port=servers.ws_port,
            path=servers.ws_path,
            headers=headers,
            arrivals=read_arrivals,
            kind="event.created",
        )
    )
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    sender = context.Process(
        target=_post_events,
        kwargs={
            "url": f"{servers.http_url}/api/events/ingest/",
            "camera": site.camera,
            "keys": site.keys,
            "rate": rate,
            "total": len(plates),
            "threads": senders,
            "results": results,
            "plates": plates,
        },
    )
    sender.start()
    loop = asyncio.get_running_loop()
    sent_at, answered_at, ingest_ms, errors, achieved = await loop.run_in_executor(
        None, results.get
    )
    sender.join()
    expected = len(listed & set(sent_at)) * clients
    deadline = time.perf_counter() + 5
    while len(arrivals) < expected and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.gather(*(stream.close() for stream in streams), return_exceptions=True)
    known = [(plate, arrived) for plate, arrived in arrivals if plate in sent_at]
    latencies = [(arrived - sent_at[plate]) * 1000 for plate, arrived in known]
    # The stream's own share: from the POST's response (0 if the frame came first).
    after = [max(0.0, arrived - answered_at[plate]) * 1000 for plate, arrived in known]
    reads_ms = [
        (arrived - sent_at[plate]) * 1000
        for plate, arrived in read_arrivals
        if plate in listed and plate in sent_at
    ]
    return {
        "reads": len(sent_at),
        "listed": len(listed & set(sent_at)),
        "clients": clients,
        "rate_achieved": round(achieved, 1),
        "hit_frames": len(latencies),
        "lost": expected - len(latencies),
        "unlisted_hits": sum(plate not in listed for plate, _ in arrivals),
        "ingest_errors": errors,
        "ingest_p50_ms": round(statistics.median(ingest_ms), 1) if ingest_ms else None,
        "ingest_p99_ms": round(_percentile(ingest_ms, 0.99), 1) if ingest_ms else None,
        "ingest_max_ms": round(max(ingest_ms), 1) if ingest_ms else None,
        "hit_p50_ms": round(_percentile(latencies, 0.5), 1) if latencies else None,
        "hit_p99_ms": round(_percentile(latencies, 0.99), 1) if latencies else None,
        "hit_max_ms": round(max(latencies), 1) if latencies else None,
        "after_response_p99_ms": round(_percentile(after, 0.99), 1) if after else None,
        "their_read_frame_p50_ms": round(_percentile(reads_ms, 0.5), 1) if reads_ms else None,
        "their_read_frame_p99_ms": round(_percentile(reads_ms, 0.99), 1) if reads_ms else None,
    }
