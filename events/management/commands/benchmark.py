"""manage.py benchmark: fill the database with realistic events, then measure ingest and
queries against a server started as in production (gunicorn sync workers, anpr.wsgi,
persistent connections). Not a test: it prints figures.

    manage.py benchmark fill --events 1000000      # COPY on PostgreSQL, up to N events
    manage.py benchmark ingest --duration 20       # wrk: single events (16 clients), batches
    manage.py benchmark queries --requests 200     # filtered list, tolerant search, stats
    manage.py benchmark all --events 1000000       # the three, in one sitting

Run it against a database of its own (DATABASE_URL): it adds cameras bench-cam-NNN, a
device, a viewer and up to N events.
"""

import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from anpr.ids import time_ordered_uuid
from anpr.localserver import ServerDidNotStart, free_port, wait_until_up
from cameras.models import Camera, EdgeDevice, Zone
from cameras.services import device_key_issue, user_token_issue
from events.models import EventDailyStatistics, EventStatistics, PlateCountSet, PlateEvent
from events.reads import plate_confusion_key
from events.services import storage
from events.services.rollup import event_statistics_rollup
from events.services.validation import vehicle_type_normalize

LUA_DIR = Path(__file__).resolve().parents[2] / "benchmark"
CAMERAS = 200
DEVICE_NAME = "bench-device"
VIEWER_NAME = "bench-viewer"
_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
_DIGITS = "0123456789"
_TYPES = ("Sedan", "SUV", "Van", "Pickup Truck", "Big Truck", "Bus", "Motorcycle")
_COLORS = ("silver", "black", "white", "blue", "red", "grey")
_MAKES = (("Toyota", "Corolla"), ("Ford", "Transit"), ("Volkswagen", "Golf"), ("BMW", "320d"))


def _plate(rng: random.Random) -> str:
    """UK 'AB12CDE', EU-ish 'AB1234C', US-ish '7ABC123' and '1234XYZ' formats."""
    r = rng.random()

    def letters(n):
        return "".join(rng.choice(_LETTERS) for _ in range(n))

    def digits(n):
        return "".join(rng.choice(_DIGITS) for _ in range(n))

    if r < 0.45:
        return letters(2) + digits(2) + letters(3)
    if r < 0.70:
        return letters(2) + digits(4) + letters(1)
    if r < 0.90:
        return digits(1) + letters(3) + digits(3)
    return digits(4) + letters(3)


class Command(BaseCommand):
    help = "Fill the database with realistic events and measure ingest and query speed."

    def add_arguments(self, parser):
        parser.add_argument("step", choices=("fill", "ingest", "queries", "all"))
        parser.add_argument("--events", type=int, default=1_000_000, help="Events to hold.")
        parser.add_argument("--days", type=int, default=30, help="Span of capture times.")
        parser.add_argument("--duration", type=int, default=20, help="Seconds per wrk run.")
        parser.add_argument("--clients", type=int, default=16, help="Single-event clients.")
        parser.add_argument("--batch", type=int, default=500, help="Events per batch.")
        parser.add_argument("--batch-clients", type=int, default=4)
        parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers.")
        parser.add_argument("--requests", type=int, default=200, help="Calls per query kind.")
        parser.add_argument(
            "--peer",
            action="store_true",
            help="Also run the reference peer (../shared/reference-peer/run.sh) in the same "
            "sitting, round by round with the single-event runs, and print the ratio.",
        )
        parser.add_argument(
            "--rounds",
            type=int,
            default=3,
            help="Single-event runs (each --duration seconds); with --peer each is paired "
            "with a peer run, in alternating order. Medians are reported.",
        )

    def handle(self, *args, step, **options):
        if options["peer"] and step not in ("ingest", "all"):
            raise CommandError("--peer is measured beside the ingest step (ingest or all).")
        if options["rounds"] < 1:
            raise CommandError("--rounds must be at least 1.")
        self.options = options
        self.rng = random.Random(42)
        self.results: dict[str, str] = {}
        cameras, device, viewer = self._fixtures()
        if step in ("fill", "all"):
            self._fill(cameras, device, options["events"], options["days"])
        if step in ("ingest", "queries", "all"):
            with self._server() as base_url:
                if step in ("ingest", "all"):
                    self._ingest(base_url, device)
                if step in ("queries", "all"):
                    self._queries(base_url, viewer, cameras)
        self.stdout.write("\n== summary")
        for name, line in self.results.items():
            self.stdout.write(f"{name:<28} {line}")

    # --- Fixtures ---------------------------------------------------------------------------

    def _fixtures(self):
        cameras = list(Camera.objects.filter(slug__startswith="bench-cam-").order_by("slug"))
        if len(cameras) < CAMERAS:
            have = {c.slug for c in cameras}
            Camera.objects.bulk_create(
                Camera(
                    slug=f"bench-cam-{n:03d}",
                    name=f"Benchmark camera {n}",
                    latitude=51.5 + n / 1000,
                    longitude=-0.12 - n / 1000,
                )
                for n in range(1, CAMERAS + 1)
                if f"bench-cam-{n:03d}" not in have
            )
            cameras = list(Camera.objects.filter(slug__startswith="bench-cam-").order_by("slug"))
            square = {
                "type": "Polygon",
                "coordinates": [[[0, 0], [0.001, 0], [0.001, 0.001], [0, 0.001], [0, 0]]],
            }
            Zone.objects.bulk_create(
                [Zone(camera=c, name="Lane 1", geometry=square) for c in cameras[::2]],
                ignore_conflicts=True,
            )
        device, _ = EdgeDevice.objects.get_or_create(name=DEVICE_NAME)
        device.cameras.add(*cameras)
        user_model = get_user_model()
        viewer, created = user_model.objects.get_or_create(username=VIEWER_NAME)
        if created:
            viewer.set_unusable_password()
            viewer.save()
            viewer.groups.add(Group.objects.get(name="viewer"))
        return cameras, device, viewer

    # --- Fill -------------------------------------------------------------------------------

    def _fill(self, cameras, device, target: int, days: int):
        have = PlateEvent.objects.count()
        missing = target - have
        self.stdout.write(f"== fill: {have} events stored, {max(missing, 0)} to add")
        if missing <= 0:
            return
        zones = dict(Zone.objects.filter(camera__in=cameras).values_list("camera_id", "id"))
        pool = [_plate(self.rng) for _ in range(max(1000, target // 5))]
        now = datetime.now(UTC)
        started = time.perf_counter()
        rows = (self._row(cameras, zones, pool, device, now, days) for _ in range(missing))
        if connection.vendor == "postgresql":
            self._copy(rows)
        else:
            chunk = []
            for row in rows:
                chunk.append(row)
                if len(chunk) == 5000:
                    with transaction.atomic():
                        storage.rows_insert(device=device, rows=chunk)
                    chunk = []
            if chunk:
                with transaction.atomic():
                    storage.rows_insert(device=device, rows=chunk)
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"   added {missing} events in {elapsed:.1f} s ({missing / elapsed:,.0f}/s)"
        )
        started = time.perf_counter()
        if connection.vendor == "postgresql":
            # What autovacuum does to a table in steady state: statistics and the visibility
            # map (index-only scans).
            with connection.cursor() as cursor:
                cursor.execute(f"VACUUM ANALYZE {PlateEvent._meta.db_table}")
        buckets = event_statistics_rollup(everything=True)
        if connection.vendor == "postgresql":
            # The same for the tables the rollup has just rewritten.
            with connection.cursor() as cursor:
                for model in (EventStatistics, EventDailyStatistics, PlateCountSet):
                    cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
        self.stdout.write(
            f"   rolled up {buckets} hourly buckets in {time.perf_counter() - started:.1f} s"
        )
        self.results["fill"] = f"{missing} events added at {missing / elapsed:,.0f}/s"

    def _row(self, cameras, zones, pool, device, now, days):
        rng = self.rng
        camera = rng.choice(cameras)
        plate = rng.choice(pool)
        captured = now - timedelta(seconds=rng.random() * days * 86400)
        received = captured + timedelta(milliseconds=rng.randint(50, 3000))
        kind = rng.choice(_TYPES)
        make, model = rng.choice(_MAKES)
        x, y = rng.randint(0, 1600), rng.randint(0, 900)
        values = {
            "id": time_ordered_uuid(),
            "device": device.pk,
            "idempotency_key": uuid.uuid4().hex,
            "camera": camera.pk,
            "zone": zones.get(camera.pk) if rng.random() < 0.7 else None,
            "plate_raw": plate,
            "plate": plate,
            "plate_key": plate_confusion_key(plate),
            "candidates": [],
            "confidence": round(rng.uniform(0.55, 0.999), 3),
            "country": "GB",
            "region": "",
            "captured_at": captured,
            "received_at": received,
            "updated_at": received,
            "vehicle_type": vehicle_type_normalize(kind),
            "vehicle_type_raw": kind,
            "vehicle_type_confidence": round(rng.uniform(0.5, 1), 3),
            "vehicle_color": rng.choice(_COLORS),
            "vehicle_color_confidence": None,
            "vehicle_make": make,
            "vehicle_make_confidence": None,
            "vehicle_model": model,
            "vehicle_model_confidence": None,
            "direction": rng.choice(("in", "out", "unknown")),
            "heading": None,
            "speed_kmh": round(rng.uniform(5, 110), 1),
            "plate_box": [x, y, x + rng.randint(120, 260), y + rng.randint(30, 70)],
            "plate_image": "",
            "frame_image": "",
            "source": "native",
            "metadata": {"lane": rng.randint(1, 4)},
        }
        return [values[f.name] for f in storage.FIELDS]

    def _copy(self, rows):
        table = PlateEvent._meta.db_table
        columns = ", ".join(connection.ops.quote_name(c) for c in storage.COLUMNS)
        json_fields = storage.JSON_FIELDS
        with connection.cursor() as cursor:
            raw = cursor.cursor  # psycopg's own cursor: COPY FROM STDIN
            with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    for i in json_fields:
                        row[i] = json.dumps(row[i])
                    copy.write_row(row)

    # --- Server -----------------------------------------------------------------------------

    def _server(self):
        command = self

        class Server:
            def __enter__(self):
                if (
                    not shutil.which("gunicorn")
                    and not Path(sys.executable).with_name("gunicorn").exists()
                ):
                    raise CommandError("gunicorn is not installed (pip install gunicorn).")
                port = free_port()
                env = {
                    **os.environ,
                    "DB_CONNECTIONS": "persistent",
                    # One device posts everything here: lift its rate limit out of the way
                    # (the throttle itself still runs, with its cache round trip).
                    "INGEST_THROTTLE_RATE": "100000000/min",
                    "LOG_LEVEL": "WARNING",
                }
                gunicorn = str(Path(sys.executable).with_name("gunicorn"))
                # The production configuration (deploy/gunicorn.conf.py), on a free port.
                conf = settings.BASE_DIR / "deploy" / "gunicorn.conf.py"
                env["GUNICORN_BIND"] = f"127.0.0.1:{port}"
                env["WEB_CONCURRENCY"] = str(command.options["workers"])
                self.process = subprocess.Popen(
                    [
                        gunicorn,
                        *(["-c", str(conf)] if conf.exists() else []),
                        "anpr.wsgi",
                        "--bind",
                        f"127.0.0.1:{port}",
                        "--workers",
                        str(command.options["workers"]),
                        "--worker-class",
                        "sync",
                        "--backlog",
                        "2048",
                        "--log-level",
                        "warning",
                    ],
                    env=env,
                    cwd=settings.BASE_DIR,
                    start_new_session=True,
                )
                url = f"http://127.0.0.1:{port}"
                try:
                    wait_until_up(url + "/health", processes=[self.process])
                except ServerDidNotStart as error:
                    raise CommandError(f"gunicorn: {error}.") from None
                command.stdout.write(
                    f"== server: gunicorn anpr.wsgi ({conf.name if conf.exists() else 'defaults'}"
                    f"), {command.options['workers']} sync workers at {url}"
                )
                return url

            def __exit__(self, *exc):
                os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)

        return Server()

    # --- Ingest -----------------------------------------------------------------------------

    def _ingest(self, base_url: str, device):
        if not shutil.which("wrk"):
            raise CommandError("wrk is not installed (apt-get install wrk).")
        key = device_key_issue(device=device).key
        env = {**os.environ, "BENCH_KEY": key, "BENCH_CAMERAS": str(CAMERAS)}
        url = base_url + "/api/events/ingest/"
        duration = self.options["duration"]
        before = PlateEvent.objects.count()
        _vacuum()  # an earlier run's deleted rows: cleaned now, not by autovacuum mid-run
        _wrk(env, "post_event.lua", url, 16, max(3, duration // 4))  # warm-up
        # This machine's speed drifts by 15% within a minute (PostgreSQL's CPU for the same
        # INSERT did), so the ratio is taken round by round, ours and the peer's back to back
        # in alternating order, and the medians are reported.
        clients = self.options["clients"]
        singles, peers = [], []
        for number in range(1, self.options["rounds"] + 1):
            peer_first = self.options["peer"] and number % 2 == 0
            if peer_first:
                peers.append(self._peer_run())
            singles.append(_wrk(env, "post_event.lua", url, clients, duration))
            if self.options["peer"] and not peer_first:
                peers.append(self._peer_run())
            line = f"== single events, {clients} clients, round {number}: {_rate(singles[-1])}"
            if self.options["peer"]:
                ratio = singles[-1]["req_per_s"] / peers[-1]["req_per_s"]
                line += f"; peer {_rate(peers[-1])}; {ratio:.2f}x"
            self.stdout.write(line)
        single = _median_run(singles)
        self.results["ingest single"] = (
            f"{_rate(single)}  non-2xx {sum(run['non2xx'] for run in singles):.0f}"
            f"  (median of {len(singles)} runs)"
        )
        if peers:
            self.results["reference peer"] = f"{_rate(_median_run(peers))}  (median)"
            ratios = [
                ours["req_per_s"] / peer["req_per_s"]
                for ours, peer in zip(singles, peers, strict=True)
            ]
            self.results["single / peer"] = (
                f"{statistics.median(ratios):.2f}x (target >= 0.4x; rounds: "
                f"{', '.join(f'{r:.2f}' for r in ratios)})"
            )
        env["BENCH_BATCH"] = str(self.options["batch"])
        batch = _wrk(env, "post_batch.lua", url, self.options["batch_clients"], duration)
        rate = batch["req_per_s"] * self.options["batch"]
        self.stdout.write(f"== batches of {self.options['batch']}: {batch}")
        self.results[f"ingest batch {self.options['batch']}"] = (
            f"{rate:,.0f} events/s  p50 {batch['p50_ms']:.1f} ms  p99 {batch['p99_ms']:.1f} ms"
            f"  non-2xx {batch['non2xx']}"
        )
        stored = PlateEvent.objects.count() - before
        # Removed again, so the queries (and the next run) measure the table that was filled:
        # each run would otherwise add about 200k events. Plain SQL: the ORM's delete would
        # load every row to look for cascades.
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {connection.ops.quote_name(PlateEvent._meta.db_table)} "
                "WHERE device_id = %s AND idempotency_key LIKE %s",
                [device.pk, "wrk%"],
            )
        _vacuum()
        self.stdout.write(f"   {stored} events stored by the ingest runs (deleted again)")

    # --- Queries ----------------------------------------------------------------------------

    def _queries(self, base_url: str, viewer, cameras):
        import requests

        token = user_token_issue(user=viewer, name="benchmark").key
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        rng = random.Random(7)
        plates = list(PlateEvent.objects.order_by().values_list("plate", flat=True)[:2000]) or [
            "AB12CDE"
        ]
        now = datetime.now(UTC)
        count = self.options["requests"]

        def filtered():
            camera = rng.choice(cameras)
            since = now - timedelta(days=rng.randint(1, 7))
            return "/api/events/", {
                "camera": camera.slug,
                "since": since.isoformat(),
                "min_confidence": "0.6",
            }

        def tolerant():
            plate = rng.choice(plates)
            confused = plate.replace("B", "8").replace("O", "0").replace("S", "5")
            return "/api/events/", {"q": confused}

        # Windows ending 0, 1, 2, ... hours ago, in random order: each one no earlier call
        # asked for (computed, not served from the cache), and each nearly full of events
        # (shifts spread over ten times as many hours left most windows past the data).
        shifts = iter(rng.sample(range(count + 5), count + 5))

        def stats_cold():
            until = now - timedelta(hours=next(shifts))
            return "/api/events/stats/", {
                "since": (until - timedelta(days=30)).isoformat(),
                "until": until.isoformat(),
                "interval": "day",
            }

        def stats_cached():
            return "/api/events/stats/", {
                "since": (now - timedelta(days=30)).isoformat(),
                "until": now.isoformat(),
                "interval": "day",
            }

        for name, make, target in (
            ("list filtered", filtered, 30),
            ("list q= (OCR-tolerant)", tolerant, 100),
            ("stats 30 days (computed)", stats_cold, 50),
            ("stats 30 days (cached)", stats_cached, 50),
        ):
            timings = []
            for n in range(count + 5):
                path, params = make()
                started = time.perf_counter()
                response = session.get(base_url + path, params=params, timeout=30)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise CommandError(f"{name}: {response.status_code} {response.text[:200]}")
                if n >= 5:  # the first few warm the caches
                    timings.append(elapsed)
            p50 = statistics.median(timings)
            p95 = statistics.quantiles(timings, n=20)[-1]
            self.stdout.write(f"== {name}: p50 {p50:.1f} ms  p95 {p95:.1f} ms  ({count} calls)")
            self.results[name] = f"p50 {p50:.1f} ms  p95 {p95:.1f} ms  (target p95 < {target} ms)"

    # --- The reference peer -----------------------------------------------------------------

    def _peer_run(self) -> dict:
        script = settings.BASE_DIR.parent / "shared" / "reference-peer" / "run.sh"
        if not script.exists():
            raise CommandError(f"{script} not found.")
        output = subprocess.run(
            [str(script), str(self.options["duration"]), str(self.options["clients"])],
            capture_output=True,
            text=True,
            timeout=self.options["duration"] + 600,
        ).stdout
        match = re.search(r"RESULT .*", output)
        if not match:
            raise CommandError(f"The peer printed no RESULT line:\n{output[-2000:]}")
        return _parse(match.group(0))


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
            str(LUA_DIR / script),
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=duration + 60,
    ).stdout
    match = re.search(r"RESULT .*", output)
    if not match:
        raise CommandError(f"wrk printed no RESULT line:\n{output[-2000:]}")
    return _parse(match.group(0))


def _parse(line: str) -> dict:
    return {key: float(value) for key, value in re.findall(r"(\w+)=([\d.]+)", line)}
