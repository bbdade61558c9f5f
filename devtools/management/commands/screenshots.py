"""manage.py screenshots: the documentation's pictures of every operators' page.

    manage.py screenshots                     # docs/screenshots/<page>.png, light mode
    manage.py screenshots --dark              # ... and <page>-dark.png
    manage.py screenshots --output /tmp/pics --use-configured-database

Run it when a page changes and commit the PNGs; the work is in devtools/screenshots.py.
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from devtools.screenshots import screenshots_take

SEED = 2026


class Command(BaseCommand):
    help = (
        "Photograph every registered operators' page in headless Chromium, on the demo data "
        "loaded with a fixed seed into a throwaway SQLite database."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--output",
            type=Path,
            default=settings.BASE_DIR / "docs" / "screenshots",
            help="Folder for the PNGs (default: docs/screenshots).",
        )
        parser.add_argument("--seed", type=int, default=SEED, help="The demo's random seed.")
        parser.add_argument("--dark", action="store_true", help="Also a -dark.png of each page.")
        parser.add_argument(
            "--use-configured-database",
            action="store_true",
            help="Use DATABASE_URL/REDIS_URL as configured (loads the demo if it is not there).",
        )
        parser.add_argument("--width", type=int, default=1280)
        parser.add_argument("--height", type=int, default=800)

    def handle(self, *args, output, seed, dark, use_configured_database, width, height, **opts):
        if not (320 <= width <= 3840 and 320 <= height <= 2160):
            raise CommandError("--width and --height must be between 320 and 3840/2160.")
        try:
            written = screenshots_take(
                output=output,
                seed=seed,
                configured_database=use_configured_database,
                dark=dark,
                viewport=(width, height),
                log=self.stdout.write,
            )
        except RuntimeError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(self.style.SUCCESS(f"Wrote {len(written)} screenshot(s) to {output}."))
