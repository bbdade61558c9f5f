"""manage.py benchmark_exports: how fast the outbox drains to a receiver, and how long a read
takes from ingest to delivered. Not a test: it prints figures.

It starts a local HTTP receiver (127.0.0.1, a free port) and Celery worker processes on a
queue of their own, stores reads through the real ingest service (so deliveries are planned
in the ingest transaction and queued after commit) and waits until every delivery is
delivered:

    manage.py benchmark_exports --deliveries 5000 --workers 2 --concurrency 8

Phase 1 stores --deliveries reads before the workers start, then measures how fast the
workers drain the outbox (deliveries/s, from the first to the last delivered_at). Phase 2
stores reads one at a time at --rate per second: ingest→delivered p50/p99 under steady load.
It refuses to run while other exporters are enabled (they would receive benchmark events),
and removes everything it made at the end.
"""

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from anpr.celery import app
from cameras.models import Camera, EdgeDevice
from events.models import PlateEvent
from events.reads import ReadIn
from events.services.ingest import plate_events_ingest
from exporters.models import ExportDelivery, ExporterConfig

NAME = "benchmark-exports"
BASE_DIR = Path(__file__).resolve().parents[3]


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


class Command(BaseCommand):
    help = "Measure export deliveries/s to a local receiver and ingest→delivered latency."

    def add_arguments(self, parser):
        parser.add_argument("--deliveries", type=int, default=5000, help="Drained at once.")
        parser.add_argument("--paced", type=int, default=1000, help="Reads in the paced phase.")
        parser.add_argument("--rate", type=float, default=200.0, help="Paced reads per second.")
        parser.add_argument("--workers", type=int, default=2, help="Worker processes.")
        parser.add_argument("--concurrency", type=int, default=8, help="Slots per worker.")
        parser.add_argument("--pool", choices=("threads", "prefork", "solo"), default="threads")
        parser.add_argument("--ingest-batch", type=int, default=100, help="Reads per ingest.")
        parser.add_argument(
            "--receiver-ms", type=float, default=0.0, help="How long the receiver takes to answer."
        )
        parser.add_argument("--timeout", type=float, default=600.0)

    def handle(self, *args, **options):
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

        _Receiver.delay = options["receiver_ms"] / 1000
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"

        self._cleanup()
        camera = Camera.objects.create(slug=NAME, name="Benchmark exports")
        device = EdgeDevice.objects.create(name=NAME)
        device.cameras.set([camera])
        ExporterConfig.objects.create(name=NAME, url=url, auth_type="hmac", secret="bench")
        workers = []
        try:
            self._run(device, queue, workers, options)
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
            self._cleanup()

    def _run(self, device, queue, workers, options):
        count, batch = options["deliveries"], options["ingest_batch"]
        # Phase 1: the reads are stored (and their messages queued) before any worker runs,
        # so the drain rate measures the workers alone, from first to last delivered_at.
        started = time.monotonic()
        self._ingest(device, count, batch=batch)
        ingest_s = time.monotonic() - started
        self.stdout.write(
            f"ingest: {count} reads with their deliveries planned and queued in {ingest_s:.2f} s "
            f"({count / ingest_s:.0f}/s, batches of {batch})"
        )
        workers.extend(self._start_workers(queue, options))
        self._wait_delivered(count, options["timeout"])
        deliveries = ExportDelivery.objects.filter(exporter__name=NAME)
        first = deliveries.order_by("delivered_at").values_list("delivered_at", flat=True)[0]
        last = deliveries.order_by("-delivered_at").values_list("delivered_at", flat=True)[0]
        span = max((last - first).total_seconds(), 1e-3)
        # Deliveries are recorded a message (a batch) at a time: those recorded at the first
        # instant were sent before the span began, so they do not count towards the rate.
        before_span = deliveries.filter(delivered_at=first).count()
        self.stdout.write(
            f"drain: {count} deliveries in {span:.2f} s = {(count - before_span) / span:.0f} "
            "deliveries/s "
            f"({options['workers']} workers, {options['pool']} pool x {options['concurrency']})"
        )

        # Phase 2: reads arrive one at a time at a steady rate while the workers run.
        paced, rate = options["paced"], options["rate"]
        if paced:
            since = timezone.now()
            started = time.monotonic()
            for n in range(paced):
                delay = started + n / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                self._ingest(device, 1, batch=1)
            achieved = paced / (time.monotonic() - started)
            self._wait_delivered(count + paced, options["timeout"])
            received, planned = self._latencies(since=since)
            self._print_latency(f"paced {achieved:.0f} reads/s, ingest→delivered", received)
            self._print_latency("  of which committed→delivered (≤)", planned)

    def _ingest(self, device, count: int, *, batch: int) -> None:
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

    def _wait_delivered(self, total: int, timeout: float) -> None:
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

    def _latencies(self, *, since) -> tuple[list[float], list[float]]:
        """Milliseconds from each read's arrival to its delivery, and from its delivery's
        planning (just before the ingest commits) to its delivery: the exporters' share."""
        rows = ExportDelivery.objects.filter(
            exporter__name=NAME, event_links__event__received_at__gte=since
        ).values_list("delivered_at", "event_links__event__received_at", "created_at")
        received, planned = [], []
        for delivered, read_at, planned_at in rows:
            received.append((delivered - read_at).total_seconds() * 1000)
            planned.append((delivered - planned_at).total_seconds() * 1000)
        return sorted(received), sorted(planned)

    def _print_latency(self, label: str, values: list[float]) -> None:
        if not values:
            return
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        self.stdout.write(
            f"{label}: p50 {statistics.median(values):.0f} ms, p99 {p99:.0f} ms, "
            f"max {values[-1]:.0f} ms (n={len(values)})"
        )

    def _start_workers(self, queue: str, options) -> list[subprocess.Popen]:
        env = {
            **os.environ,
            "EXPORTER_ALLOWED_NETWORKS": "127.0.0.0/8",
            "LOG_LEVEL": "WARNING",
        }
        processes = []
        for n in range(options["workers"]):
            command = [
                sys.executable, "-m", "celery", "-A", "anpr", "worker",
                "--queues", queue, "--pool", options["pool"],
                "--concurrency", str(options["concurrency"]), "--loglevel", "WARNING",
                "--hostname", f"bench-exports-{n}-{uuid.uuid4().hex[:6]}@%h",
                "--without-mingle", "--without-gossip", "--without-heartbeat",
                "--prefetch-multiplier", "4",
            ]  # fmt: skip
            processes.append(
                subprocess.Popen(command, cwd=BASE_DIR, env=env, start_new_session=True)
            )
        return processes

    def _cleanup(self) -> None:
        ExportDelivery.objects.filter(exporter__name=NAME).delete()
        ExporterConfig.objects.filter(name=NAME).delete()
        PlateEvent.objects.filter(camera__slug=NAME).delete()
        EdgeDevice.objects.filter(name=NAME).delete()
        Camera.objects.filter(slug=NAME).delete()
