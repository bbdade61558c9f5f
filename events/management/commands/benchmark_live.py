"""manage.py benchmark_live: ingest → websocket client latency of the live stream.

Starts the servers as in production (daphne for /ws/; gunicorn sync workers for the HTTP
ingest when REDIS_URL is set, else daphne for both, as in the embedded mode), connects
--clients websocket clients with a user API token, posts single events through
POST /api/events/ingest/ at --rate events/s for --duration seconds, and measures, for every
client and event, the time from the start of the POST to the frame's arrival. Then, with
--find-max, raises the rate until p99 reaches --target-ms (or frames are lost) and reports the
highest rate that still met it. Not a test: it prints figures.

    manage.py benchmark_live                          # 50 clients at 50 events/s, 20 s
    manage.py benchmark_live --find-max               # ... then the highest rate under 100 ms
    manage.py benchmark_live --clients 5 --rate 10 --duration 3     # a smoke run
    manage.py benchmark_live --ws-servers 2 --find-max    # two daphne replicas share the clients

It adds a camera, devices, a user and token named bench-live-*, and deletes its events after.
Ingest throttling is switched off for its servers (it limits per device, not what is measured).
The clients run in this process and share the machine's cores with the servers.
"""

import asyncio
import base64
import gc
import hashlib
import multiprocessing
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from anpr.localserver import ServerDidNotStart, free_port, wait_until_up
from cameras.models import Camera
from cameras.services import device_create, user_token_issue
from events.models import PlateEvent

ROOT = Path(__file__).resolve().parents[3]
PREFIX = "bench-live"
DEVICES = 20  # reads spread over several devices, as in a real site
_PLATE = re.compile(rb'"plate": ?"([A-Z0-9]+)"')


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class StreamClient(asyncio.Protocol):
    """A lean websocket client of /ws/events/ (RFC 6455 over one asyncio connection).

    The clients share the cores with the servers they measure, so each does only what a
    client must: the opening handshake (its Sec-WebSocket-Accept checked), frames parsed as
    far as their length, the plate read from a text frame with a regex (not a JSON parse),
    pings answered, the closing handshake. Frames that arrive in one read share one time.
    """

    _GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self, arrivals: list[tuple[str, float]]):
        self.arrivals = arrivals
        self.buffer = bytearray()
        self.opened: asyncio.Future = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.key = base64.b64encode(os.urandom(16))
        self.fragments: list[bytes] = []

    @classmethod
    async def connect(cls, *, port: int, path: str, headers: dict, arrivals) -> "StreamClient":
        loop = asyncio.get_running_loop()
        _, client = await loop.create_connection(lambda: cls(arrivals), "127.0.0.1", port)
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {client.key.decode()}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        client.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await asyncio.wait_for(client.opened, timeout=10)
        return client

    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during the opening handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes):
        arrived = time.perf_counter()
        self.buffer += data
        if not self.opened.done():
            head, found, _ = self.buffer.partition(b"\r\n\r\n")
            if not found:
                return
            del self.buffer[: len(head) + 4]
            accept = base64.b64encode(hashlib.sha1(self.key + self._GUID).digest())
            if not head.startswith(b"HTTP/1.1 101") or accept not in head:
                self.opened.set_exception(ConnectionError(head.decode("latin-1")))
                self.transport.close()
                return
            self.opened.set_result(None)
        self._frames_read(arrived)

    def _frames_read(self, arrived: float) -> None:
        buffer, offset = self.buffer, 0
        while len(buffer) - offset >= 2:
            first, length = buffer[offset], buffer[offset + 1] & 0x7F  # servers do not mask
            start = offset + 2
            if length == 126:
                if len(buffer) - offset < 4:
                    break
                length, start = int.from_bytes(buffer[offset + 2 : offset + 4]), offset + 4
            elif length == 127:
                if len(buffer) - offset < 10:
                    break
                length, start = int.from_bytes(buffer[offset + 2 : offset + 10]), offset + 10
            if len(buffer) - start < length:
                break
            self._frame(
                first & 0x0F, bool(first & 0x80), bytes(buffer[start : start + length]), arrived
            )
            offset = start + length
        del buffer[:offset]

    def _frame(self, opcode: int, final: bool, payload: bytes, arrived: float) -> None:
        if opcode in (0x0, 0x1, 0x2):  # a message, perhaps in fragments
            self.fragments.append(payload)
            if final:
                message, self.fragments = b"".join(self.fragments), []
                found = _PLATE.search(message)
                if found:
                    self.arrivals.append((found.group(1).decode(), arrived))
        elif opcode == 0x9:  # ping
            self._send(0xA, payload)
        elif opcode == 0x8:  # the server closes: answer, then the server ends the TCP connection
            self._send(0x8, payload[:2])

    def _send(self, opcode: int, payload: bytes) -> None:
        """A client frame: final, masked (clients must mask), payload under 126 bytes."""
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        self.transport.write(bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked)

    async def close(self) -> None:
        """The closing handshake (1000, normal), then wait for the server to end it."""
        if not self.transport.is_closing():
            self._send(0x8, (1000).to_bytes(2))
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout=5)
        except TimeoutError:
            self.transport.close()


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


class Servers:
    """daphne (websockets, and HTTP in the embedded mode) and gunicorn (HTTP ingest)."""

    def __init__(self, *, http_workers: int, ws_servers: int, log_dir: Path):
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "anpr.settings",
            "INGEST_THROTTLE_RATE": "",
            "LOG_LEVEL": "WARNING",
        }
        # Several daphne processes stand for replicas of the websocket service behind nginx.
        self.ws_ports = [free_port() for _ in range(ws_servers)]
        self.ws_port = self.ws_ports[0]
        self.production = bool(settings.REDIS_URL)
        self.http_port = free_port() if self.production else self.ws_port
        self.http_workers = http_workers
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    ws_path = "/ws/events/"

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for port in self.ws_ports:
            daphne = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
            self._spawn("daphne", [*daphne, "anpr.asgi:application"])
        if self.production:
            self._spawn(
                "gunicorn",
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "anpr.wsgi:application",
                    # The production configuration, on a free port.
                    "--config",
                    str(ROOT / "deploy" / "gunicorn.conf.py"),
                    "--workers",
                    str(self.http_workers),
                    "--bind",
                    f"127.0.0.1:{self.http_port}",
                ],
            )
        for port in {*self.ws_ports, self.http_port}:
            self._wait(f"http://127.0.0.1:{port}/health")

    def _spawn(self, name: str, command: list[str]) -> None:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (lives as long as the server)
        self.processes.append(
            subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=log)
        )

    def _wait(self, url: str) -> None:
        try:
            wait_until_up(url, processes=self.processes, timeout=60)
        except ServerDidNotStart as error:
            raise CommandError(f"{error}; see {self.log_dir}") from None

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


class Command(BaseCommand):
    help = "Measure ingest → websocket client latency of the live stream (p50/p99, max rate)."

    def add_arguments(self, parser):
        parser.add_argument("--clients", type=int, default=50, help="Websocket clients.")
        parser.add_argument("--rate", type=float, default=50, help="Events per second.")
        parser.add_argument("--duration", type=float, default=20, help="Seconds per run.")
        parser.add_argument(
            "--find-max", action="store_true", help="Then raise the rate until p99 >= target."
        )
        parser.add_argument("--target-ms", type=float, default=100, help="p99 target (ms).")
        parser.add_argument("--max-rate", type=float, default=1000, help="Stop raising here.")
        parser.add_argument("--senders", type=int, default=16, help="Concurrent HTTP posters.")
        parser.add_argument(
            "--http-workers", type=int, default=4, help="gunicorn sync workers (as deployed)."
        )
        parser.add_argument(
            "--ws-servers",
            type=int,
            default=1,
            help="daphne processes, the clients spread over them (as deployed: 1).",
        )

    def handle(self, *args, **options):
        if settings.EMBEDDED or not settings.REDIS_URL:
            self.stderr.write(
                "Not the production setup (PostgreSQL + Redis): figures are for this mode only."
            )
        if options["ws_servers"] > 1 and not settings.REDIS_URL:
            raise CommandError("--ws-servers above 1 needs REDIS_URL (a layer across processes).")
        setup = self._setup()
        servers = Servers(
            http_workers=options["http_workers"],
            ws_servers=options["ws_servers"],
            log_dir=settings.DATA_DIR / "benchmark-live",
        )
        http = (
            f"gunicorn × {options['http_workers']} sync workers" if servers.production else "daphne"
        )
        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        layer = settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1]
        self.stdout.write(
            f"Servers: daphne × {options['ws_servers']} for /ws/, {http} for the ingest; "
            f"{database}; {layer}; "
            f"{options['clients']} clients."
        )
        servers.start()
        # The clients' process holds all of Django: frozen out of the collector (as the servers
        # are), or a full collection in mid-run (120 ms here) makes every client late at once.
        gc.freeze()
        try:
            # Warm-up, not counted: first connections, imports and caches of every worker.
            self._run(servers, setup, {**options, "duration": 2}, options["rate"])
            first = self._run(servers, setup, options, options["rate"])
            self.stdout.write(first.line())
            if options["find_max"]:
                self._find_max(servers, setup, options, first)
        finally:
            servers.stop()
            deleted, _ = PlateEvent.objects.filter(device__name__startswith=PREFIX).delete()
            self.stdout.write(f"Deleted the {deleted} benchmark event(s).")

    def _find_max(self, servers, setup, options, first: RunResult) -> None:
        target = options["target_ms"]
        best = first if first.meets(target) else None
        rate = options["rate"]
        while best is not None and rate < options["max_rate"]:
            rate = min(options["max_rate"], rate * 2)
            result = self._run(servers, setup, options, rate)
            self.stdout.write(result.line())
            if not result.meets(target):
                low, high = best.rate, rate
                for _ in range(2):  # narrow the step down twice
                    middle = (low + high) / 2
                    result = self._run(servers, setup, options, middle)
                    self.stdout.write(result.line())
                    if result.meets(target):
                        best, low = result, middle
                    else:
                        high = middle
                break
            best = result
        if best is None:
            self.stdout.write(
                f"Highest rate with p99 < {target:.0f} ms: none (not even the first)."
            )
        else:
            self.stdout.write(
                f"Highest rate with p99 < {target:.0f} ms and no frame lost: {best.rate:.0f} "
                f"events/s × {best.clients} clients ({best.p(0.99):.1f} ms p99)."
            )

    # --- Data ---------------------------------------------------------------------------------
    def _setup(self) -> dict:
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
        return {"camera": camera.slug, "keys": keys, "token": token.key}

    # --- One run ------------------------------------------------------------------------------
    def _run(self, servers: Servers, setup: dict, options: dict, rate: float) -> RunResult:
        return asyncio.run(self._measure(servers, setup, options, rate))

    async def _measure(self, servers, setup, options, rate) -> RunResult:
        clients = options["clients"]
        total = max(1, int(rate * options["duration"]))
        arrivals: list[tuple[str, float]] = []
        headers = {
            "Authorization": f"Bearer {setup['token']}",
        }
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
        # The posting runs in a process of its own, so that its threads do not hold the
        # clients' interpreter lock; perf_counter is the same monotonic clock in both.
        results = multiprocessing.get_context("fork").Queue()
        sender = multiprocessing.get_context("fork").Process(
            target=_post_events,
            kwargs={
                "url": f"{servers.http_url}/api/events/ingest/",
                "camera": setup["camera"],
                "keys": setup["keys"],
                "rate": rate,
                "total": total,
                "threads": options["senders"],
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


def _post_events(*, url, camera, keys, rate, total, threads, results) -> None:
    """Post `total` single events at `rate` per second (in a child process); put
    ({plate: start of its POST}, {plate: its response}, [ingest ms], errors, achieved rate) on
    `results`."""
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
        plate = f"BL{run_tag}{number:06d}"
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
