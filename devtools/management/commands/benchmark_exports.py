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
and removes everything it made at the end. The measurement is in
devtools/benchmark/exports.py.
"""

from django.core.management.base import BaseCommand

from devtools.benchmark.exports import ExportsLoad, exports_measure


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
        load = ExportsLoad(
            deliveries=options["deliveries"],
            paced=options["paced"],
            rate=options["rate"],
            workers=options["workers"],
            concurrency=options["concurrency"],
            pool=options["pool"],
            ingest_batch=options["ingest_batch"],
            receiver_ms=options["receiver_ms"],
            timeout=options["timeout"],
        )
        exports_measure(load=load, stdout=self.stdout)
