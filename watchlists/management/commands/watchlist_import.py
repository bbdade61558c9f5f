"""manage.py watchlist_import LIST FILE: the API's CSV import for files beyond its upload
limit (WATCHLIST_IMPORT_MAX_BYTES), run here and now whatever its size; prints its progress
(stderr), then the report's counts and refused lines. Refused while another import of the
list is queued or running."""

import json

from django.core.management.base import BaseCommand, CommandError

from core.ids import ascii_integer
from watchlists.models import Watchlist
from watchlists.services.import_jobs import ImportBusy, import_active_check
from watchlists.services.importing import REPLACE, UPSERT, ImportRefused, entries_import


class Command(BaseCommand):
    help = "Import a CSV of entries into a watchlist (by id or name)."

    def add_arguments(self, parser):
        parser.add_argument("watchlist", help="The list's id or name.")
        parser.add_argument("file")
        parser.add_argument("--mode", choices=(UPSERT, REPLACE), default=UPSERT)
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, watchlist, file, mode, dry_run, **options):
        watchlist_id = ascii_integer(watchlist)
        found = Watchlist.objects.filter(
            **({"pk": watchlist_id} if watchlist_id is not None else {"name": watchlist})
        ).first()
        if found is None:
            raise CommandError(f"No watchlist {watchlist!r}.")
        try:
            import_active_check(watchlist=found)
            with open(file, "rb") as stream:
                report = entries_import(
                    watchlist=found,
                    stream=stream,
                    mode=mode,
                    dry_run=dry_run,
                    progress=lambda lines: self.stderr.write(f"{lines:,} lines read"),
                )
        except (OSError, ImportRefused, ImportBusy) as error:
            raise CommandError(str(error)) from None
        self.stdout.write(json.dumps(report.counts))
        for refused in report.refused:
            self.stdout.write(f"line {refused['line']}: {refused['reason']}")
