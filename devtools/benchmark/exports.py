"""`benchmark_exports`: a local HTTP receiver, Celery workers on a queue of their own, reads
stored through the real ingest service; how fast the outbox drains and how long a read takes
from ingest to delivered."""

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.conf import settings
from django.core.management.base import CommandError, OutputWrapper
from django.utils import timezone

from anpr.celery import app
from cameras.models import Camera, EdgeDevice
from events.models import PlateEvent
from events.reads import ReadIn
from events.services.ingest import plate_events_ingest
from exporters.models import ExportDelivery, ExporterConfig

NAME = "benchmark-exports"


@dataclass(frozen=True)
class ExportsLoad:
    """The command's options."""

    deliveries: int
    paced: int
    rate: float
    workers: int
    concurrency: int
    pool: str
    ingest_batch: int
    receiver_ms: float
    timeout: float


class _Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    #: Seconds each answer takes (--receiver-ms): a receiver across a network.
    delay = 0.0

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.delay:
            time.sleep(self.delay)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def exports_measure(*, load: ExportsLoad, stdout: OutputWrapper) -> None:
    """Set up the receiver, exporter, device and workers, run both phases, remove it all."""
    if ExporterConfig.objects.filter(enabled=True).exclude(name=NAME).exists():
        raise CommandError(
            "Other exporters are enabled and would receive benchmark events; run this on "
            "a database of its own (DATABASE_URL) or disable them first."
        )
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-benchmark-exports"
    # Before the first publish: our deliveries go to the benchmark workers' own queue.
    app.conf.task_routes = {"exporters.tasks.exporter_deliveries_attempt": {"queue": queue}}
    with app.connection_for_write() as broker:
        broker.default_channel.queue_purge(queue)  # leftovers of an interrupted run

    _Receiver.delay = load.receiver_ms / 1000
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"

    _cleanup()
    camera = Camera.objects.create(slug=NAME, name="Benchmark exports")
    device = EdgeDevice.objects.create(name=NAME)
    device.cameras.set([camera])
    ExporterConfig.objects.create(name=NAME, url=url, auth_type="hmac", secret="bench")
    workers: list[subprocess.Popen] = []
    try:
        _phases_run(device=device, queue=queue, workers=workers, load=load, stdout=stdout)
    finally:
        for process in workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in workers:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        server.shutdown()
        _cleanup()


def _phases_run(*, device, queue, workers, load: ExportsLoad, stdout: OutputWrapper) -> None:
    count, batch = load.deliveries, load.ingest_batch
    # Phase 1: the reads are stored (and their messages queued) before any worker runs, so the
    # drain rate measures the workers alone, from first to last delivered_at.
    started = time.monotonic()
    _ingest(device, count, batch=batch)
    ingest_s = time.monotonic() - started
    stdout.write(
        f"ingest: {count} reads with their deliveries planned and queued in {ingest_s:.2f} s "
        f"({count / ingest_s:.0f}/s, batches of {batch})"
    )
    workers.extend(_workers_start(queue, load))
    _wait_delivered(count, load.timeout)
    deliveries = ExportDelivery.objects.filter(exporter__name=NAME)
    first = deliveries.order_by("delivered_at").values_list("delivered_at", flat=True)[0]
    last = deliveries.order_by("-delivered_at").values_list("delivered_at", flat=True)[0]
    span = max((last - first).total_seconds(), 1e-3)
    # Deliveries are recorded a message (a batch) at a time: those recorded at the first
    # instant were sent before the span began, so they do not count towards the rate.
    before_span = deliveries.filter(delivered_at=first).count()
    stdout.write(
        f"drain: {count} deliveries in {span:.2f} s = {(count - before_span) / span:.0f} "
        "deliveries/s "
        f"({load.workers} workers, {load.pool} pool x {load.concurrency})"
    )

    # Phase 2: reads arrive one at a time at a steady rate while the workers run.
    paced, rate = load.paced, load.rate
    if paced:
        since = timezone.now()
        started = time.monotonic()
        for n in range(paced):
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            _ingest(device, 1, batch=1)
        achieved = paced / (time.monotonic() - started)
        _wait_delivered(count + paced, load.timeout)
        received, planned = _latencies(since=since)
        for label, values in (
            (f"paced {achieved:.0f} reads/s, ingest→delivered", received),
            ("  of which committed→delivered (≤)", planned),
        ):
            if values:
                stdout.write(_latency_line(label, values))


def _ingest(device, count: int, *, batch: int) -> None:
    now = timezone.now()
    for start in range(0, count, batch):
        reads = [
            ReadIn(
                plate=f"BX{(start + i) % 100:02d}EXP",
                captured_at=now,
                camera=NAME,
                event_id=uuid.uuid4().hex,
                confidence=0.9,
            )
            for i in range(min(batch, count - start))
        ]
        results = plate_events_ingest(device=device, reads=reads)
        rejected = [r for r in results if r.status == "rejected"]
        if rejected:
            raise CommandError(f"Ingest rejected a benchmark read: {rejected[0].errors}")


def _wait_delivered(total: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    deliveries = ExportDelivery.objects.filter(exporter__name=NAME)
    while time.monotonic() < deadline:
        done = deliveries.filter(status__in=("delivered", "dead")).count()
        if done >= total:
            dead = deliveries.filter(status="dead").first()
            if dead:
                raise CommandError(f"A delivery died: {dead.last_error}")
            return
        time.sleep(0.05)
    raise CommandError(f"Timed out: {done} of {total} deliveries done.")


def _latencies(*, since) -> tuple[list[float], list[float]]:
    """Milliseconds from each read's arrival to its delivery, and from its delivery's planning
    (just before the ingest commits) to its delivery: the exporters' share."""
    rows = ExportDelivery.objects.filter(
        exporter__name=NAME, event_links__event__received_at__gte=since
    ).values_list("delivered_at", "event_links__event__received_at", "created_at")
    received, planned = [], []
    for delivered, read_at, planned_at in rows:
        received.append((delivered - read_at).total_seconds() * 1000)
        planned.append((delivered - planned_at).total_seconds() * 1000)
    return sorted(received), sorted(planned)


def _latency_line(label: str, values: list[float]) -> str:
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return (
        f"{label}: p50 {statistics.median(values):.0f} ms, p99 {p99:.0f} ms, "
        f"max {values[-1]:.0f} ms (n={len(values)})"
    )


def _workers_start(queue: str, load: ExportsLoad) -> list[subprocess.Popen]:
    env = {
        **os.environ,
        "EXPORTER_ALLOWED_NETWORKS": "127.0.0.0/8",
        "LOG_LEVEL": "WARNING",
    }
    processes = []
    for n in range(load.workers):
        command = [
            sys.executable, "-m", "celery", "-A", "anpr", "worker",
            "--queues", queue, "--pool", load.pool,
            "--concurrency", str(load.concurrency), "--loglevel", "WARNING",
            "--hostname", f"bench-exports-{n}-{uuid.uuid4().hex[:6]}@%h",
            "--without-mingle", "--without-gossip", "--without-heartbeat",
            "--prefetch-multiplier", "4",
        ]  # fmt: skip
        processes.append(
            subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, start_new_session=True)
        )
    return processes


def _cleanup() -> None:
    ExportDelivery.objects.filter(exporter__name=NAME).delete()
    ExporterConfig.objects.filter(name=NAME).delete()
    PlateEvent.objects.filter(camera__slug=NAME).delete()
    EdgeDevice.objects.filter(name=NAME).delete()
    Camera.objects.filter(slug=NAME).delete()
