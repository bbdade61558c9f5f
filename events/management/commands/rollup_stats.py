"""manage.py rollup_stats: what the periodic Celery task does, on demand."""

from django.core.management.base import BaseCommand

from events.services.rollup import event_statistics_rollup


class Command(BaseCommand):
    help = (
        "Recompute the hourly event statistics changed since the last rollup (late events "
        "re-roll their buckets); --all rebuilds every bucket (e.g. after changing TIME_ZONE)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="Rebuild every bucket.")

    def handle(self, *args, **options):
        count = event_statistics_rollup(everything=options["all"])
        self.stdout.write(f"Recomputed {count} hourly bucket(s).")
