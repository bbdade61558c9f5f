"""manage.py benchmark_watchlists: import N entries from a generated CSV (dry run, then for
real) and time matching reads in-process against them. Not a test: it prints figures.

    manage.py benchmark_watchlists --entries 1000000 --budget 0
    manage.py benchmark_watchlists --entries 100000 --budget 1

Run it against a database of its own (DATABASE_URL): it adds a list named bench-...
(removed at the end unless --keep) and disables the other lists while it matches.
"""

import json

from django.core.management.base import BaseCommand

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

    def handle(self, *args, entries, budget, reads, keep, **options):
        others = list(Watchlist.objects.filter(enabled=True).values_list("pk", flat=True))
        Watchlist.objects.filter(pk__in=others).update(enabled=False)
        try:
            watchlist, figures = watchlist_import_measure(entries=entries, budget=budget)
            plates = figures.pop("plates")
            figures["match"] = watchlist_match_measure(plates=plates, reads=reads)
            self.stdout.write(json.dumps(figures))
            if not keep:
                watchlist_delete(watchlist=watchlist)
        finally:
            Watchlist.objects.filter(pk__in=others).update(enabled=True)
