"""Imports run by a worker (watchlists/tasks.py): a file over WATCHLIST_IMPORT_ASYNC_LINES
lines is stored as a WatchlistImport and run by a task that takes its id and is safe to run
twice (the job's status decides); its progress is the lines read so far, its report the one
a synchronous import answers. One active import per list (a unique constraint)."""

import io
import logging
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from ..models import Watchlist, WatchlistImport
from .importing import ImportRefused, ImportReport, entries_import, lines_count

logger = logging.getLogger(__name__)

IMPORT_RUN_TASK = "watchlists.tasks.watchlist_import_run"
#: A running import not touched (progress) for this long lost its worker: it may run again
#: (its writes were one transaction, rolled back with the worker).
STALE_AFTER = timedelta(minutes=15)
#: A queued import whose message has not started it within this is queued again.
REQUEUE_AFTER = timedelta(minutes=2)


class ImportBusy(Exception):
    """Another import of the list is queued or running."""

    def __init__(self, watchlist: Watchlist):
        super().__init__(
            f"An import of the list {watchlist.name!r} is already queued or running; "
            "try again when it has finished."
        )


def import_active_check(*, watchlist: Watchlist) -> None:
    """ImportBusy when the list has a queued or running import (a synchronous import must
    not overlap it either)."""
    active = WatchlistImport.objects.filter(watchlist=watchlist, status__in=WatchlistImport.ACTIVE)
    if active.exists():
        raise ImportBusy(watchlist)


def import_job_create(
    *, watchlist: Watchlist, content: bytes, mode: str, dry_run: bool, user, lines_total: int
) -> WatchlistImport:
    """Store an uploaded CSV as a queued import; its task is queued once this commits."""
    try:
        with transaction.atomic():
            job = WatchlistImport.objects.create(
                watchlist=watchlist,
                mode=mode,
                dry_run=dry_run,
                content=content,
                lines_total=lines_total,
                created_by=user if getattr(user, "is_authenticated", False) else None,
            )
    except IntegrityError:
        raise ImportBusy(watchlist) from None
    transaction.on_commit(lambda: import_enqueue(job_id=job.pk))
    return job


def import_start(
    *, watchlist: Watchlist, stream, mode: str, dry_run: bool, user
) -> WatchlistImport | ImportReport:
    """An uploaded CSV (a binary stream): over WATCHLIST_IMPORT_ASYNC_LINES lines, a queued
    import for a worker; otherwise imported now, and its report. Either way ImportBusy while
    another import of the list is queued or running (the admin and the API share this)."""
    stream.seek(0)
    lines = lines_count(stream)
    if lines > settings.WATCHLIST_IMPORT_ASYNC_LINES:
        return import_job_create(
            watchlist=watchlist,
            content=stream.read(),
            mode=mode,
            dry_run=dry_run,
            user=user,
            lines_total=lines,
        )
    import_active_check(watchlist=watchlist)
    return entries_import(watchlist=watchlist, stream=stream, mode=mode, dry_run=dry_run, user=user)


def import_enqueue(*, job_id) -> None:
    """Send the task message; a broker that is down costs time only (the sweep requeues)."""
    try:
        current_app.send_task(IMPORT_RUN_TASK, (str(job_id),))
    except Exception:  # the broker's errors vary by transport
        logger.warning("Could not queue watchlist import %s; the sweep will.", job_id)


def imports_requeue() -> int:
    """Queue again the uploaded imports whose message was lost or whose worker died; a fetch
    whose worker died is over (its list's next fetch is due as usual)."""
    now = timezone.now()
    WatchlistImport.objects.filter(
        source="url", status=WatchlistImport.Status.RUNNING, updated_at__lt=now - STALE_AFTER
    ).update(
        status=WatchlistImport.Status.FAILED,
        error="The worker running it stopped.",
        content=b"",
        finished_at=now,
        updated_at=now,
    )
    ids = list(
        WatchlistImport.objects.filter(
            Q(status=WatchlistImport.Status.QUEUED, updated_at__lt=now - REQUEUE_AFTER)
            | Q(status=WatchlistImport.Status.RUNNING, updated_at__lt=now - STALE_AFTER),
            source="upload",
        ).values_list("pk", flat=True)
    )
    for job_id in ids:
        import_enqueue(job_id=job_id)
    return len(ids)


def import_job_run(*, job_id) -> str:
    """Run a stored import once: a job already running (and alive) or finished is left alone."""
    now = timezone.now()
    claimed = WatchlistImport.objects.filter(
        Q(status=WatchlistImport.Status.QUEUED)
        | Q(status=WatchlistImport.Status.RUNNING, updated_at__lt=now - STALE_AFTER),
        pk=job_id,
    ).update(status=WatchlistImport.Status.RUNNING, started_at=now, lines_done=0, updated_at=now)
    if not claimed:
        return "skipped"
    job = WatchlistImport.objects.select_related("watchlist").get(pk=job_id)
    import_job_execute(job=job, stream=io.BytesIO(bytes(job.content)))
    return job.status


def import_job_execute(*, job: WatchlistImport, stream, all_or_nothing: bool = False) -> None:
    """Import `stream` for a claimed (running) job and record how it ended."""

    def progress(lines: int) -> None:
        WatchlistImport.objects.filter(pk=job.pk).update(
            lines_done=lines, updated_at=timezone.now()
        )

    try:
        report = entries_import(
            watchlist=job.watchlist,
            stream=stream,
            mode=job.mode,
            dry_run=job.dry_run,
            user=job.created_by,
            all_or_nothing=all_or_nothing,
            progress=progress,
        )
    except ImportRefused as refused:
        job.status, job.error = WatchlistImport.Status.FAILED, f"{refused.field}: {refused}"
    except Exception:
        logger.exception("Watchlist import %s failed.", job.pk)
        job.status, job.error = WatchlistImport.Status.FAILED, "The import failed (see the log)."
    else:
        job.status, job.report = WatchlistImport.Status.DONE, report.as_dict()
        job.lines_done = job.lines_total
    job.content, job.finished_at = b"", timezone.now()
    # An update, not a save: a list deleted meanwhile took its import along.
    WatchlistImport.objects.filter(pk=job.pk).update(
        status=job.status,
        error=job.error,
        report=job.report,
        lines_done=job.lines_done,
        content=b"",
        finished_at=job.finished_at,
        updated_at=job.finished_at,
    )
