"""`benchmark_live`: websocket clients of the live stream, single reads posted to the ingest
at a steady rate, and the time from each POST's start to its frame's arrival at each client.
"""

import asyncio
import multiprocessing
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import OutputWrapper

from cameras.models import Camera
from cameras.services import device_create, user_token_issue
from devtools.benchmark.servers import LiveServers
from devtools.benchmark.stream_client import StreamClient
from events.models import PlateEvent

PREFIX = "bench-live"
DEVICES = 20  # reads spread over several devices, as in a real site


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@dataclass(frozen=True)
class LiveSite:
    """The benchmark's camera (its slug), its devices' keys and the viewer's API token."""

    camera: str
    keys: list[str]
    token: str


@dataclass(frozen=True)
class LiveLoad:
    """The command's options that every run shares."""

    clients: int
    duration: float
    senders: int


@dataclass
class RunResult:
    """The figures of one run at one rate."""

    rate: float
    clients: int
    sent: int
    expected_frames: int
    latencies_ms: list[float] = field(default_factory=list)
    #: Frame arrival after the POST's response (0 if before): the stream's own share.
    after_response_ms: list[float] = field(default_factory=list)
    #: How late the clients' own event loop woke up: large means the clients, not the
    #: server, are the bottleneck of the measurement.
    client_lag_ms: list[float] = field(default_factory=list)
    ingest_ms: list[float] = field(default_factory=list)
    ingest_errors: int = 0
    achieved_rate: float = 0.0

    @property
    def lost(self) -> int:
        return self.expected_frames - len(self.latencies_ms)

    def p(self, fraction: float) -> float:
        return _percentile(self.latencies_ms, fraction) if self.latencies_ms else float("inf")

    def meets(self, target_ms: float) -> bool:
        return self.lost == 0 and self.ingest_errors == 0 and self.p(0.99) < target_ms

    def line(self) -> str:
        if not self.latencies_ms:
            return f"{self.rate:7.0f} ev/s: no frames received ({self.ingest_errors} ingest errors)"
        return (
            f"{self.rate:7.0f} ev/s (sent {self.achieved_rate:6.1f}/s) × {self.clients} clients "
            f"= {self.achieved_rate * self.clients:7.0f} frames/s | latency p50 "
            f"{self.p(0.5):6.1f} ms  p99 {self.p(0.99):6.1f} ms  max {max(self.latencies_ms):6.1f}"
            f" ms | ingest p50 {statistics.median(self.ingest_ms):5.1f} ms p99 "
            f"{_percentile(self.ingest_ms, 0.99):5.1f} ms | after the response p99 "
            f"{_percentile(self.after_response_ms, 0.99):5.1f} ms | client loop lag p99 "
            f"{_percentile(self.client_lag_ms or [0.0], 0.99):5.1f} ms | lost {self.lost}"
            f" | ingest errors {self.ingest_errors}"
        )


def live_site_create() -> LiveSite:
    """A camera, DEVICES devices and a viewer's token named bench-live-*."""
    camera, _ = Camera.objects.get_or_create(
        slug=f"{PREFIX}-cam",
        defaults={"name": "Benchmark live camera", "latitude": 52.37, "longitude": 4.89},
    )
    keys = []
    for _ in range(DEVICES):
        _, issued = device_create(name=f"{PREFIX}-{uuid.uuid4().hex[:8]}", cameras=[camera])
        keys.append(issued.key)
    user, _ = get_user_model().objects.get_or_create(username=f"{PREFIX}-viewer")
    user.groups.add(Group.objects.get(name="viewer"))
    token = user_token_issue(user=user, name=f"{PREFIX} {datetime.now(UTC):%Y-%m-%d %H:%M}")
    return LiveSite(camera=camera.slug, keys=keys, token=token.key)


def live_events_delete() -> int:
    """Delete what the runs stored; how many events that was."""
    deleted, _ = PlateEvent.objects.filter(device__name__startswith=PREFIX).delete()
    return deleted


def live_rate_find_max(
    *,
    servers: LiveServers,
    site: LiveSite,
    load: LiveLoad,
    first: RunResult,
    target_ms: float,
    max_rate: float,
    stdout: OutputWrapper,
) -> None:
    """Double the rate until p99 reaches `target_ms` (or a frame is lost), narrow the step
    down twice, and print the highest rate that met the target."""
    best = first if first.meets(target_ms) else None
    rate = first.rate
    while best is not None and rate < max_rate:
        rate = min(max_rate, rate * 2)
        result = live_run(servers=servers, site=site, load=load, rate=rate)
        stdout.write(result.line())
        if not result.meets(target_ms):
            low, high = best.rate, rate
            for _ in range(2):  # narrow the step down twice
                middle = (low + high) / 2
                result = live_run(servers=servers, site=site, load=load, rate=middle)
                stdout.write(result.line())
                if result.meets(target_ms):
                    best, low = result, middle
                else:
                    high = middle
            break
        best = result
    if best is None:
        stdout.write(f"Highest rate with p99 < {target_ms:.0f} ms: none (not even the first).")
    else:
        stdout.write(
            f"Highest rate with p99 < {target_ms:.0f} ms and no frame lost: {best.rate:.0f} "
            f"events/s × {best.clients} clients ({best.p(0.99):.1f} ms p99)."
        )


def live_run(*, servers: LiveServers, site: LiveSite, load: LiveLoad, rate: float) -> RunResult:
    """One run at `rate` events/s: connect the clients, post, wait for the frames."""
    return asyncio.run(_measure(servers, site, load, rate))


async def _measure(servers: LiveServers, site: LiveSite, load: LiveLoad, rate: float) -> RunResult:
    clients = load.clients
    total = max(1, int(rate * load.duration))
    arrivals: list[tuple[str, float]] = []
    headers = {"Authorization": f"Bearer {site.token}"}
    streams = [
        await StreamClient.connect(
            port=servers.ws_ports[number % len(servers.ws_ports)],
            path=servers.ws_path,
            headers=headers,
            arrivals=arrivals,
        )
        for number in range(clients)
    ]
    lags: list[float] = []

    async def watch_lag():
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append((time.perf_counter() - started - 0.005) * 1000)

    lag_watch = asyncio.create_task(watch_lag())
    # The posting runs in a process of its own, so that its threads do not hold the clients'
    # interpreter lock; perf_counter is the same monotonic clock in both.
    results = multiprocessing.get_context("fork").Queue()
    sender = multiprocessing.get_context("fork").Process(
        target=_post_events,
        kwargs={
            "url": f"{servers.http_url}/api/events/ingest/",
            "camera": site.camera,
            "keys": site.keys,
            "rate": rate,
            "total": total,
            "threads": load.senders,
            "results": results,
        },
    )
    sender.start()
    loop = asyncio.get_running_loop()
    sent_at, answered_at, ingest_ms, errors, achieved = await loop.run_in_executor(
        None, results.get
    )
    sender.join()
    result = RunResult(rate=rate, clients=clients, sent=len(sent_at), expected_frames=0)
    result.ingest_ms, result.ingest_errors, result.achieved_rate = ingest_ms, errors, achieved
    result.expected_frames = result.sent * clients
    deadline = time.perf_counter() + 5
    while len(arrivals) < result.expected_frames and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    lag_watch.cancel()
    await asyncio.gather(*(stream.close() for stream in streams), return_exceptions=True)
    known = [(plate, arrived) for plate, arrived in arrivals if plate in sent_at]
    result.latencies_ms = [(arrived - sent_at[plate]) * 1000 for plate, arrived in known]
    result.client_lag_ms = lags
    result.after_response_ms = [
        max(0.0, arrived - answered_at[plate]) * 1000 for plate, arrived in known
    ]
    return result


def _post_events(*, url, camera, keys, rate, total, threads, results, plates=None) -> None:
    """Post `total` single events at `rate` per second (in a child process), of `plates` if
    given; put ({plate: start of its POST}, {plate: its response}, [ingest ms], errors,
    achieved rate) on `results`."""
    run_tag = uuid.uuid4().hex[:4].upper()
    sent_at: dict[str, float] = {}
    answered_at: dict[str, float] = {}
    ingest_ms: list[float] = []
    errors = 0
    lock = threading.Lock()
    local = threading.local()

    def post(number: int) -> None:
        nonlocal errors
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        plate = plates[number] if plates else f"BL{run_tag}{number:06d}"
        body = {
            "camera": camera,
            "plate": plate,
            "captured_at": datetime.now(UTC).isoformat(),
            "event_id": plate,
            "confidence": 0.9,
            "vehicle_type": "car",
        }
        started = time.perf_counter()
        try:
            response = session.post(
                url,
                json=body,
                headers={"Authorization": f"Token {keys[number % len(keys)]}"},
                timeout=10,
            )
            ok = response.status_code == 201
        except requests.RequestException:
            ok = False
        answered = time.perf_counter()
        with lock:
            ingest_ms.append((answered - started) * 1000)
            if ok:
                sent_at[plate], answered_at[plate] = started, answered
            else:
                errors += 1

    with ThreadPoolExecutor(threads) as pool:
        begin = time.perf_counter()
        for number in range(total):
            delay = begin + number / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(post, number)
    achieved = total / max(1e-9, time.perf_counter() - begin)
    results.put((sent_at, answered_at, ingest_ms, errors, achieved))
