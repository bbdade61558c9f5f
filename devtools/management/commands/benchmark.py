"""manage.py benchmark: fill the database with realistic events, then measure ingest and
queries against a server started as in production (gunicorn sync workers, anpr.wsgi,
persistent connections). Not a test: it prints figures.

    manage.py benchmark fill --events 1000000      # COPY on PostgreSQL, up to N events
    manage.py benchmark ingest --duration 20       # wrk: single events (16 clients), batches
    manage.py benchmark queries --requests 200     # filtered list, tolerant search, stats
    manage.py benchmark all --events 1000000       # the three, in one sitting
    manage.py benchmark ingest --watchlist         # reads with and without the bench lists

Run it against a database of its own (DATABASE_URL): it adds cameras bench-cam-NNN, a
device, a viewer and up to N events. The steps are in devtools/benchmark/.
"""

import random

from django.core.management.base import BaseCommand, CommandError

from devtools.benchmark.fill import benchmark_site_ensure, events_fill
from devtools.benchmark.ingest import IngestLoad, ingest_measure
from devtools.benchmark.ingest_watchlists import watchlist_ingest_measure
from devtools.benchmark.queries import queries_measure
from devtools.benchmark.servers import gunicorn_running


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
            "--watchlist",
            action="store_true",
            help="Instead of the ingest runs: single reads with 3 candidates (1%% listed) with "
            "the lists benchmark_watchlists --keep left enabled and disabled, paired round by "
            "round in alternating order, and the ratio.",
        )
        parser.add_argument(
            "--settle",
            type=int,
            default=15,
            help="With --watchlist: seconds of unmeasured load after each enable or disable "
            "(every worker rebuilds its entry index; a million entries on a slow machine "
            "may need more).",
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
        results: dict[str, str] = {}
        site = benchmark_site_ensure()
        if step in ("fill", "all"):
            added = events_fill(
                site=site,
                target=options["events"],
                days=options["days"],
                rng=random.Random(42),
                stdout=self.stdout,
            )
            if added:
                results["fill"] = added
        if step in ("ingest", "queries", "all"):
            with gunicorn_running(workers=options["workers"], stdout=self.stdout) as base_url:
                if step == "ingest" and options["watchlist"]:
                    load = IngestLoad(
                        duration=options["duration"],
                        clients=options["clients"],
                        batch=options["batch"],
                        batch_clients=options["batch_clients"],
                        rounds=options["rounds"],
                        peer=False,
                    )
                    results |= watchlist_ingest_measure(
                        base_url=base_url,
                        site=site,
                        load=load,
                        settle=options["settle"],
                        stdout=self.stdout,
                    )
                elif step in ("ingest", "all"):
                    load = IngestLoad(
                        duration=options["duration"],
                        clients=options["clients"],
                        batch=options["batch"],
                        batch_clients=options["batch_clients"],
                        rounds=options["rounds"],
                        peer=options["peer"],
                    )
                    results |= ingest_measure(
                        base_url=base_url, site=site, load=load, stdout=self.stdout
                    )
                if step in ("queries", "all"):
                    results |= queries_measure(
                        base_url=base_url, site=site, count=options["requests"], stdout=self.stdout
                    )
        self.stdout.write("\n== summary")
        for name, line in results.items():
            self.stdout.write(f"{name:<28} {line}")
