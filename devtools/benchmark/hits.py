"""`benchmark_watchlists --to-exporter`: read → hit at an exporter's receiver. Reads are
stored one at a time through the real ingest service at a steady rate, a share of them a
listed plate; an exporter with send=["hits"] points at a local HTTP receiver, and Celery
worker processes on a queue of their own deliver. The latency of each hit runs from just
before its read's ingest call to the moment the receiver has read the request."""

import json
import os
import signal
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
from watchlists.models import Watchlist, WatchlistEntry
from watchlists.services.entries import entry_save, watchlist_delete

from .exports import _latency_line

NAME = "benchmark-hits"


@dataclass(frozen=True)
class HitsLoad:
    reads: int
    rate: float
    listed: float
    workers: int
    concurrency: int


class _Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    #: {read id: monotonic time the hit arrived}
    arrived: dict[str, float] = {}

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        now = time.monotonic()
        for hit in json.loads(body).get("hits", []):
            self.arrived.setdefault(hit["read"]["id"], now)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def hits_to_exporter_measure(*, load: HitsLoad, stdout: OutputWrapper) -> None:
    """Set up list, receiver, exporter, device and workers; pace the reads; report."""
    if ExporterConfig.objects.filter(enabled=True).exclude(name=NAME).exists():
        raise CommandError("Other exporters are enabled: run this on a database of its own.")
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-benchmark-hits"
    app.conf.task_routes = {"exporters.tasks.exporter_deliveries_attempt": {"queue": queue}}
    with app.connection_for_write() as broker:
        broker.default_channel.queue_purge(queue)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _cleanup()
    others = list(Watchlist.objects.filter(enabled=True).values_list("pk", flat=True))
    Watchlist.objects.filter(pk__in=others).update(enabled=False)
    camera = Camera.objects.create(slug=NAME, name="Benchmark hits")
    device = EdgeDevice.objects.create(name=NAME)
    device.cameras.set([camera])
    listed_count = max(1, int(load.reads * load.listed))
    watchlist = Watchlist.objects.create(name=NAME, match_strategy="ocr")
    # One entry per listed read: a repeat of an entry within HIT_REPEAT_SECONDS raises none.
    listed = [f"HT{n:05d}X" for n in range(listed_count)]
    for plate in listed:
        entry_save(
            entry=WatchlistEntry(
                watchlist=watchlist, plate=plate, plate_raw=plate, category="stolen_vehicle"
            )
        )
    ExporterConfig.objects.create(
        name=NAME,
        url=f"http://127.0.0.1:{server.server_address[1]}/hook",
        send=["hits"],
        auth_type="hmac",
        secret="bench",
    )
    workers = _workers_start(queue, load)
    try:
        time.sleep(3)  # the workers connect to the broker
        started_at = _pace(device, load, listed)
        deadline = time.monotonic() + 60
        while len(_Receiver.arrived) < len(started_at) and time.monotonic() < deadline:
            time.sleep(0.05)
        latencies = sorted(
            (_Receiver.arrived[read_id] - started) * 1000
            for read_id, started in started_at.items()
            if read_id in _Receiver.arrived
        )
        missing = len(started_at) - len(latencies)
        stdout.write(
            _latency_line(
                f"{load.reads} reads paced at {load.rate:.0f}/s, {len(started_at)} listed: "
                "read → hit at the receiver",
                latencies,
            )
            + (f"; {missing} hits not received" if missing else "")
        )
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
        Watchlist.objects.filter(pk__in=others).update(enabled=True)


def _pace(device, load: HitsLoad, listed: list[str]) -> dict[str, float]:
    """Ingest the reads one at a time; {read id: monotonic start} of the listed ones."""
    every = max(1, round(load.reads / len(listed)))
    started_at = {}
    begin = time.monotonic()
    plates = iter(listed)
    for n in range(load.reads):
        delay = begin + n / load.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        plate = next(plates, None) if n % every == 0 else None
        read = ReadIn(
            plate=plate or f"NO{n:05d}Z",
            captured_at=timezone.now(),
            camera=NAME,
            event_id=uuid.uuid4().hex,
            confidence=0.9,
        )
        started = time.monotonic()
        [result] = plate_events_ingest(device=device, reads=[read])
        if result.status == "rejected":
            raise CommandError(f"Ingest rejected a benchmark read: {result.errors}")
        if plate:
            started_at[str(result.id)] = started
    return started_at


def _workers_start(queue: str, load: HitsLoad) -> list[subprocess.Popen]:
    env = {**os.environ, "EXPORTER_ALLOWED_NETWORKS": "127.0.0.0/8", "LOG_LEVEL": "WARNING"}
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "anpr",
                "worker",
                "--queues",
                queue,
                "--pool",
                "threads",
                "--concurrency",
                str(load.concurrency),
                "--loglevel",
                "WARNING",
                "--hostname",
                f"bench-hits-{n}-{uuid.uuid4().hex[:6]}@%h",
                "--without-mingle",
                "--without-gossip",
                "--without-heartbeat",
            ],  # fmt: skip
            cwd=settings.BASE_DIR,
            env=env,
            start_new_session=True,
        )
        for n in range(load.workers)
    ]


def _cleanup() -> None:
    ExportDelivery.objects.filter(exporter__name=NAME).delete()
    ExporterConfig.objects.filter(name=NAME).delete()
    for watchlist in Watchlist.objects.filter(name=NAME):
        watchlist_delete(watchlist=watchlist)
    PlateEvent.objects.filter(camera__slug=NAME).delete()
    EdgeDevice.objects.filter(name=NAME).delete()
    Camera.objects.filter(slug=NAME).delete()
