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
The clients run in this process and share the machine's cores with the servers. The
measurement is in devtools/benchmark/live.py.
"""

import gc

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from devtools.benchmark.live import (
    LiveLoad,
    live_events_delete,
    live_rate_find_max,
    live_run,
    live_site_create,
)
from devtools.benchmark.servers import LiveServers


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
        site = live_site_create()
        servers = LiveServers(
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
        load = LiveLoad(
            clients=options["clients"], duration=options["duration"], senders=options["senders"]
        )
        servers.start()
        # The clients' process holds all of Django: frozen out of the collector (as the servers
        # are), or a full collection in mid-run (120 ms here) makes every client late at once.
        gc.freeze()
        try:
            # Warm-up, not counted: first connections, imports and caches of every worker.
            warm_up = LiveLoad(clients=load.clients, duration=2, senders=load.senders)
            live_run(servers=servers, site=site, load=warm_up, rate=options["rate"])
            first = live_run(servers=servers, site=site, load=load, rate=options["rate"])
            self.stdout.write(first.line())
            if options["find_max"]:
                live_rate_find_max(
                    servers=servers,
                    site=site,
                    load=load,
                    first=first,
                    target_ms=options["target_ms"],
                    max_rate=options["max_rate"],
                    stdout=self.stdout,
                )
        finally:
            servers.stop()
            self.stdout.write(f"Deleted the {live_events_delete()} benchmark event(s).")
