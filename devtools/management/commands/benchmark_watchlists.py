"""manage.py benchmark_watchlists: import N entries from a generated CSV (dry run, then for
real) and time matching reads in-process against them. Not a test: it prints figures.

    manage.py benchmark_watchlists --entries 1000000 --budget 0
    manage.py benchmark_watchlists --entries 100000 --budget 1
    manage.py benchmark_watchlists --entries 100000 --live   # read -> hit frame, p50/p99

With --live, the matching is measured end to end instead: the servers of benchmark_live
(daphne for /ws/, gunicorn for the ingest when REDIS_URL is set) take single reads at --rate
reads/s for --duration seconds, --listed of them on the list, and --clients websocket clients
(a viewer's token) time each listed read's POST to its `hit` frame.

Run it against a database of its own (DATABASE_URL): it adds a list named bench-...
(removed at the end unless --keep) and disables the other lists while it matches.

    manage.py benchmark_watchlists --to-exporter --reads 1000 --rate 50 --listed 0.1

measures instead read → hit at an exporter's receiver, with real Celery workers
(devtools/benchmark/hits.py).
"""

import json

from django.conf import settings
from django.core.management.base import BaseCommand

from devtools.benchmark.hits import HitsLoad, hits_to_exporter_measure
from devtools.benchmark.live import live_events_delete, live_site_create
from devtools.benchmark.live_hits import live_hits_plates, live_hits_run
from devtools.benchmark.servers import LiveServers
from devtools.benchmark.watchlists import watchlist_import_measure, watchlist_match_measure
from watchlists.models import Watchlist
from watchlists.services.entries import watchlist_delete


class Command(BaseCommand):
    help = "Measure watchlist import and in-process matching."

    def add_arguments(self, parser):
        parser.add_argument("--entries", type=int, default=1_000_000)
        parser.add_argument("--budget", type=int, default=0, choices=(0, 1, 2))
        parser.add_argument("--reads", type=int, default=2000)
        parser.add_argument("--keep", action="store_true", help="Keep the list (enabled).")
        parser.add_argument(
            "--live", action="store_true", help="Read -> hit frame on websocket clients."
        )
        parser.add_argument(
            "--to-exporter",
            action="store_true",
            help="Read -> hit at an exporter's receiver (--reads, --rate, --listed, --workers, "
            "--concurrency).",
        )
        parser.add_argument("--rate", type=float, default=50, help="Paced reads per second.")
        parser.add_argument("--duration", type=float, default=20, help="--live: seconds.")
        parser.add_argument("--listed", type=float, default=0.1, help="Share of listed reads.")
        parser.add_argument("--clients", type=int, default=10, help="--live: websocket clients.")
        parser.add_argument("--workers", type=int, default=1, help="--to-exporter: workers.")
        parser.add_argument("--concurrency", type=int, default=4, help="--to-exporter: threads.")

    def handle(self, *args, entries, budget, reads, keep, **options):
        if options["to_exporter"]:
            load = HitsLoad(
                reads=reads,
                rate=options["rate"],
                listed=options["listed"],
                workers=options["workers"],
                concurrency=options["concurrency"],
            )
            hits_to_exporter_measure(load=load, stdout=self.stdout)
            return
        others = list(Watchlist.objects.filter(enabled=True).values_list("pk", flat=True))
        Watchlist.objects.filter(pk__in=others).update(enabled=False)
        try:
            watchlist, figures = watchlist_import_measure(entries=entries, budget=budget)
            plates = figures.pop("plates")
            if options["live"]:
                figures["live"] = self._live(watchlist, options)
            else:
                figures["match"] = watchlist_match_measure(plates=plates, reads=reads)
            self.stdout.write(json.dumps(figures))
            if not keep:
                watchlist_delete(watchlist=watchlist)
        finally:
            Watchlist.objects.filter(pk__in=others).update(enabled=True)

    def _live(self, watchlist, options) -> dict:
        if settings.EMBEDDED or not settings.REDIS_URL:
            self.stderr.write(
                "Not the production setup (PostgreSQL + Redis): figures for this mode."
            )
        site = live_site_create()
        warm_up = live_hits_plates(watchlist=watchlist, reads=100, listed_share=options["listed"])
        plates = live_hits_plates(
            watchlist=watchlist,
            reads=int(options["rate"] * options["duration"]),
            listed_share=options["listed"],
        )
        listed = set(watchlist.entries.filter(plate__in=plates).values_list("plate", flat=True))
        servers = LiveServers(
            http_workers=4, ws_servers=1, log_dir=settings.DATA_DIR / "benchmark-watchlists"
        )
        servers.start()
        try:
            run = {"servers": servers, "site": site, "clients": options["clients"]}
            live_hits_run(plates=warm_up, listed=set(), rate=options["rate"], **run)
            return live_hits_run(plates=plates, listed=listed, rate=options["rate"], **run)
        finally:
            servers.stop()
            live_events_delete()
