"""manage.py purge_events: apply retention now (the nightly beat task runs the same service)."""

import re
import sys
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from cameras.models import Camera
from events.models import PurgeRun
from events.services.retention import events_purge

_DURATION = re.compile(r"^(\d+)\s*([dhw]?)$")
_UNITS = {"": "days", "d": "days", "h": "hours", "w": "weeks"}


def duration_parse(value: str) -> timedelta:
    """'30d', '12h', '2w' or a bare number of days."""
    match = _DURATION.match(value.strip().lower())
    if not match or int(match.group(1)) < 1:
        raise CommandError(f"--older-than {value!r}: use a positive duration like 30d, 12h or 2w.")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


class Command(BaseCommand):
    help = (
        "Delete events past their retention (EVENT_RETENTION_DAYS, or a camera's own), remove "
        "images past IMAGE_RETENTION_DAYS keeping the rows, and optionally sweep orphan files. "
        "Events with export deliveries still open are kept until they finish. Other apps' "
        "purge steps run too (watchlist hits past their list's retention)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would go; change nothing."
        )
        parser.add_argument(
            "--older-than",
            metavar="AGE",
            help="Delete events older than this (30d, 12h, 2w) instead of the configured "
            "retention, for every camera in scope.",
        )
        parser.add_argument("--camera", metavar="SLUG", help="Only this camera's events.")
        parser.add_argument(
            "--batch-size", type=int, metavar="N", help="Rows per transaction (PURGE_BATCH_SIZE)."
        )
        parser.add_argument(
            "--orphans",
            action="store_true",
            help="Also delete image files that no event references.",
        )

    def handle(self, *args, dry_run, older_than, camera, batch_size, orphans, **options):
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        selected = None
        if camera:
            selected = Camera.objects.filter(slug=camera).first()
            if selected is None:
                raise CommandError(f"--camera {camera!r}: no camera has this slug.")
        bar = _ProgressBar(sys.stderr) if sys.stderr.isatty() and not dry_run else None
        result = events_purge(
            older_than=duration_parse(older_than) if older_than else None,
            camera=selected,
            batch_size=batch_size,
            dry_run=dry_run,
            orphans=orphans,
            trigger=PurgeRun.Trigger.COMMAND,
            progress=bar,
        )
        if bar:
            bar.finish()
        would = "Would delete" if dry_run else "Deleted"
        lines = [
            f"{would} {result.events_deleted} event(s) and {result.deliveries_deleted} "
            "finished delivery record(s)"
            + (" (deliveries are counted when they go)" if dry_run else "")
            + ".",
            f"{'Would remove' if dry_run else 'Removed'} the images of "
            f"{result.images_cleared} event(s) (rows kept)"
            + ("" if dry_run else f"; {result.files_deleted} file(s) deleted")
            + ".",
            f"Kept {result.events_held} event(s) past retention whose deliveries are still open.",
        ]
        if orphans:
            lines.append(f"{would} {result.orphan_files_deleted} orphan file(s).")
        for name, count in result.steps.items():
            lines.append(f"{would} {count} {name} past their retention.")
        if not dry_run:
            lines.append(f"Forgot {result.plates_forgotten} plate(s) no event holds (statistics).")
            lines.append(f"Deleted {result.refused_reads_deleted} refused read(s) of devices.")
        for line in lines:
            self.stdout.write(line)
        cutoffs = result.cutoffs["events"] or {"events": "kept for ever (retention 0)"}
        for name, value in cutoffs.items():
            self.stdout.write(f"  cut-off {name}: {value}")
        if dry_run:
            self.stdout.write(self.style.WARNING("Dry run: nothing was changed."))


class _ProgressBar:
    """A one-line bar on a terminal: `events [#####.....] 500/1000`."""

    width = 30

    def __init__(self, stream):
        self.stream = stream
        self.active = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        filled = self.width * done // total if total else self.width
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{stage:<8} [{bar}] {done}/{total}")
        self.stream.flush()
        self.active = True
        if done >= total:
            self.stream.write("\n")
            self.active = False

    def finish(self):
        if self.active:
            self.stream.write("\n")
