"""Lists fetched from a URL (Watchlist.source_url): beat finds the lists due, a task per list
downloads the CSV through core.outbound's address checks (no loopback, private, link-local or
metadata address unless in WATCHLIST_SOURCE_ALLOWED_NETWORKS; the checked address is the one
connected to; no redirects; size and time capped) and imports it with the list's
source_mode as a WatchlistImport. A fetch that fails, or a file with any refused line, leaves
the list as it was and records why; the entries of such a list change only by its fetch."""

import logging
import tempfile
import time
from datetime import timedelta

import requests
from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from core import outbound
from core.ids import ascii_integer

from ..models import Watchlist, WatchlistImport
from .import_jobs import ImportBusy, import_job_execute, imports_requeue
from .importing import lines_count

logger = logging.getLogger(__name__)

FETCH_TASK = "watchlists.tasks.watchlist_source_fetch"
ALLOWED_SETTING = "WATCHLIST_SOURCE_ALLOWED_NETWORKS"


class FetchFailed(Exception):
    """The source could not be downloaded; the message is recorded on the list."""


def hand_edit_check(*, watchlist: Watchlist) -> None:
    """A list fetched from a URL changes only by its fetch (a hand edit would be undone, or
    kept unseen, by the next one): a ValidationError naming source_url."""
    if watchlist.source_url:
        raise ValidationError(
            {
                "source_url": "This list's entries are fetched from its source_url; empty "
                "source_url to edit them by hand."
            }
        )


def source_reset(*, watchlist: Watchlist) -> None:
    """A changed source_url is fetched at beat's next look, and the old URL's outcome goes."""
    Watchlist.objects.filter(pk=watchlist.pk).update(
        last_fetched_at=None, last_fetch_status="", last_fetch_error=""
    )
    watchlist.last_fetched_at, watchlist.last_fetch_status, watchlist.last_fetch_error = (
        None,
        "",
        "",
    )


def sources_sweep() -> int:
    """Beat: queue a fetch of every list whose source is due, and requeue lost imports."""
    now = timezone.now()
    due = [
        pk
        for pk, fetched, minutes in Watchlist.objects.exclude(source_url="").values_list(
            "pk", "last_fetched_at", "fetch_interval_minutes"
        )
        if fetched is None or fetched + timedelta(minutes=minutes) <= now
    ]
    for pk in due:
        try:
            current_app.send_task(FETCH_TASK, (pk,))
        except Exception:  # the broker's errors vary by transport; the next sweep retries
            logger.warning("Could not queue the source fetch of watchlist %s.", pk)
    imports_requeue()
    return len(due)


def source_fetch(*, watchlist_id: int, force: bool = False) -> str:
    """Fetch and import one list's source if it is due (or `force`d); safe to run twice: the
    first run moves last_fetched_at on, so the second finds it not due."""
    now = timezone.now()
    watchlist = Watchlist.objects.filter(pk=watchlist_id).exclude(source_url="").first()
    if watchlist is None:
        return "no source"
    due = Q(last_fetched_at__isnull=True) | Q(
        last_fetched_at__lte=now - timedelta(minutes=watchlist.fetch_interval_minutes)
    )
    claimed = Watchlist.objects.filter(Q(pk=watchlist_id) & (Q() if force else due)).update(
        last_fetched_at=now
    )
    if not claimed:
        return "not due"
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as file:
        try:
            _download(watchlist.source_url, file)
            file.seek(0)
            job = _job_start(watchlist=watchlist, lines_total=lines_count(file))
        except (FetchFailed, ImportBusy) as error:
            return _fetch_record(watchlist, error=str(error))
        import_job_execute(job=job, stream=file, all_or_nothing=True)
    return _fetch_record(watchlist, error=job.error)


def _job_start(*, watchlist: Watchlist, lines_total: int) -> WatchlistImport:
    try:
        with transaction.atomic():
            return WatchlistImport.objects.create(
                watchlist=watchlist,
                source="url",
                mode=watchlist.source_mode,
                status=WatchlistImport.Status.RUNNING,
                started_at=timezone.now(),
                lines_total=lines_total,
            )
    except IntegrityError:
        raise ImportBusy(watchlist) from None


def _fetch_record(watchlist: Watchlist, *, error: str) -> str:
    status = "failed" if error else "ok"
    Watchlist.objects.filter(pk=watchlist.pk).update(
        last_fetch_status=status, last_fetch_error=error[:1000]
    )
    if error:
        logger.warning("Watchlist %s: its source fetch failed: %s", watchlist.pk, error)
    return status


def _download(url: str, file) -> None:
    """The body of a 200 answer into `file`, or FetchFailed saying why."""
    cap, timeout = settings.WATCHLIST_SOURCE_MAX_BYTES, settings.WATCHLIST_SOURCE_TIMEOUT
    deadline = time.monotonic() + timeout
    try:
        request = outbound.pinned_request(
            url=url,
            method="GET",
            headers={"Accept": "text/csv, text/plain"},
            body=None,
            allowed_setting=ALLOWED_SETTING,
        )
    except (outbound.DestinationRefused, outbound.ResolveFailed) as error:
        raise FetchFailed(str(error)) from None
    except requests.RequestException as error:
        raise FetchFailed(f"Request failed: {type(error).__name__}") from None
    session = outbound.pinned_session()
    try:
        with session.send(
            request, timeout=(min(5.0, timeout), timeout), allow_redirects=False, stream=True
        ) as response:
            if response.status_code != 200:
                raise FetchFailed(f"HTTP {response.status_code} (200 expected).")
            announced = ascii_integer(response.headers.get("Content-Length", ""))
            if announced is not None and announced > cap:
                raise FetchFailed(f"The file is larger than {cap} bytes.")
            received = 0
            for chunk in response.iter_content(chunk_size=65536):
                received += len(chunk)
                if received > cap:
                    raise FetchFailed(f"The file is larger than {cap} bytes.")
                if time.monotonic() > deadline:
                    raise FetchFailed(f"The download took longer than {timeout:g} s.")
                file.write(chunk)
    except requests.Timeout:
        raise FetchFailed(f"Timed out after {timeout:g} s.") from None
    except requests.RequestException as error:
        reason = error.args[0] if error.args else error
        raise FetchFailed(f"Connection failed: {getattr(reason, 'reason', reason)}"[:500]) from None
    finally:
        session.close()
