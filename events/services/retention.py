"""Retention: events and images past their time go; the hourly counts stay (they hold no
plates), so history charts survive; the plates leave the statistics with their events.

`events_purge` is what `manage.py purge_events` and the nightly beat task (events.tasks) run.

- Events older than EVENT_RETENTION_DAYS are deleted; a camera's retention_days overrides it.
  An event exactly at the cut-off stays ("older than" is strict).
- Devices' refused reads (cameras.models.RefusedRead: plates too) go at their expires_at (their
  camera's retention, REFUSED_READS_KEEP_DAYS when that is for ever; not in a run limited
  to one camera).
- Images older than IMAGE_RETENTION_DAYS are removed while the rows stay (privacy: plates and
  times stay, pictures go).
- An event whose export deliveries are still pending or delivering is held (its images too)
  until they are delivered or dead; then it goes with delivery records that carry nothing else.
- Other apps' rows with plates (watchlists' hits) go by the purge steps they register
  (events/purge_steps.py); each step's count is recorded under its name.
- Work goes in batches of short transactions, so ingest never waits long on a lock.
- Files are deleted after the transaction that cleared their rows commits: a crash between
  the two leaves a file no row references (which the orphan sweep removes), never a row
  pointing at a missing file.
- Plates are personal data: each batch that deletes events re-rolls the plate count sets of
  their hours in the same transaction (an hour left empty loses its set); the run ends by
  deleting any set older than the oldest event left and the statistics' dictionary rows of
  plates no event holds any more.

Retention knows the exporters' outbox by its related names (`export_links`, `event_links`)
and the app registry, not by an import: events imports no app that reacts to stored reads
(events/after_store.py), yet this module does depend on the outbox's shape (an open delivery
holds its events; a delivery left without events goes with them). When a second app must hold
events from the purge, that knowledge becomes a hook its after-store step declares.
"""

import functools
import operator
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.apps import apps
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from cameras.models import Camera
from cameras.services import refused_reads_purge
from events.models import PlateEvent, PurgeRun
from events.plate_sets import (
    plate_sets_after_delete,
    plate_sets_forget_before,
    statistics_plates_forget,
)
from events.purge_steps import purge_steps

#: Delivery statuses that still need the event (exporters.models.ExportDelivery.Status).
OPEN_DELIVERY_STATUSES = ("pending", "delivering")
#: The orphan sweep leaves younger files alone: ingest writes an image just before its row
#: commits, and that file must not be taken for an orphan.
ORPHAN_GRACE = timedelta(hours=1)
IMAGE_FOLDER = "events"

#: progress(stage, done, total), stage being "events", "images" or "orphans".
Progress = Callable[[str, int, int], None]


@dataclass
class PurgeResult:
    """What a purge removed (or, in a dry run, would remove)."""

    dry_run: bool
    cutoffs: dict = field(default_factory=dict)
    events_deleted: int = 0
    deliveries_deleted: int = 0
    events_held: int = 0
    images_cleared: int = 0
    files_deleted: int = 0
    orphan_files_deleted: int = 0
    plates_forgotten: int = 0
    refused_reads_deleted: int = 0
    #: What other apps' purge steps (events/purge_steps.py) deleted, by step name.
    steps: dict = field(default_factory=dict)


def event_retention_days(camera: Camera | None) -> int:
    """How many days a camera's events are kept (0: for ever): its own retention_days, else
    EVENT_RETENTION_DAYS. Ingest refuses a read already past it (events/services/validation.py);
    the purge's filter below is the same rule in SQL."""
    return (camera.retention_days if camera is not None else None) or settings.EVENT_RETENTION_DAYS


def retention_cutoff(*, now: datetime, days: int) -> datetime | None:
    """The oldest time `days` of retention keep as of `now`; None: kept for ever (0, or a
    period reaching before year 1, saved before cameras.models.RETENTION_DAYS_MAX)."""
    if not days:
        return None
    try:
        return now - timedelta(days=days)
    except OverflowError:
        return None


class RetentionCutoffs:
    """The oldest captured_at each camera's retention keeps, as of one ingest call's `now`:
    worked out once per camera per call, so a read costs a lookup and a comparison."""

    def __init__(self, now: datetime):
        self.now = now
        self._by_camera: dict[int | None, datetime | None] = {}

    def kept_since(self, camera: Camera | None) -> datetime | None:
        """None when the camera keeps its events for ever."""
        key = camera.pk if camera is not None else None
        try:
            return self._by_camera[key]
        except KeyError:
            days = event_retention_days(camera)
            cutoff = self._by_camera[key] = retention_cutoff(now=self.now, days=days)
            return cutoff


def events_purge(
    *,
    now: datetime | None = None,
    older_than: timedelta | None = None,
    camera: Camera | None = None,
    batch_size: int | None = None,
    dry_run: bool = False,
    orphans: bool = False,
    trigger: str = PurgeRun.Trigger.COMMAND,
    progress: Progress | None = None,
) -> PurgeResult:
    """Apply retention once. `older_than` replaces every retention period (the default and
    the cameras' own) for this run; `camera` limits the run to one camera. A dry run counts
    and changes nothing (and is not recorded)."""
    now = now or timezone.now()
    batch_size = batch_size or settings.PURGE_BATCH_SIZE
    expired = _expired_filter(now=now, older_than=older_than)
    image_cutoff = (
        now - timedelta(days=settings.IMAGE_RETENTION_DAYS)
        if settings.IMAGE_RETENTION_DAYS
        else None
    )
    result = PurgeResult(
        dry_run=dry_run,
        cutoffs={
            "now": now.isoformat(),
            "events": _describe_cutoffs(now=now, older_than=older_than),
            "images": image_cutoff.isoformat() if image_cutoff else None,
            "camera": camera.slug if camera else None,
            "orphans": orphans,
            "batch_size": batch_size,
        },
    )
    run = None
    if not dry_run:
        run = PurgeRun.objects.create(started_at=now, trigger=trigger, options=result.cutoffs)
    try:
        scope = PlateEvent.objects.all()
        if camera is not None:
            scope = scope.filter(camera=camera)
        held = scope.filter(pk__in=_events_with_open_deliveries())
        if expired is not None:
            result.events_held = held.filter(expired).count()
            _delete_events(
                scope.filter(expired).exclude(pk__in=_events_with_open_deliveries()),
                result=result,
                batch_size=batch_size,
                progress=progress,
            )
        if image_cutoff is not None:
            with_images = (
                scope.filter(captured_at__lt=image_cutoff)
                .filter(~Q(plate_image="") | ~Q(frame_image=""))
                .exclude(pk__in=_events_with_open_deliveries())
            )
            if expired is not None:  # (gone already, or going in a dry run)
                with_images = with_images.exclude(expired)
            _clear_images(with_images, result=result, batch_size=batch_size, progress=progress)
        if orphans:
            orphan_files_sweep(now=now, result=result, progress=progress)
        if not dry_run and camera is None:
            result.refused_reads_deleted = refused_reads_purge(now=now, older_than=older_than)
        if not dry_run:
            plate_sets_forget_before(tz=ZoneInfo(settings.TIME_ZONE))
            result.plates_forgotten = statistics_plates_forget(batch_size=batch_size)
        # Last: another app's step that fails cannot hold back the deletions above.
        for step in purge_steps():
            result.steps[step.name] = step.purge(
                now=now, camera=camera, batch_size=batch_size, dry_run=dry_run
            )
    except Exception as error:
        if run is not None:
            _record(run, result, error=f"{type(error).__name__}: {error}")
        raise
    if run is not None:
        _record(run, result)
    return result


def _expired_filter(*, now: datetime, older_than: timedelta | None) -> Q | None:
    """Which events are past their retention, or None when nothing is (retention 0 = keep)."""
    if older_than is not None:
        return Q(captured_at__lt=now - older_than)
    return camera_retention_expired(now=now)


def camera_retention_expired(
    *, now: datetime, camera_field: str = "camera", time_field: str = "captured_at"
) -> Q | None:
    """The filter of rows past their camera's event retention (`event_retention_days`) as of
    `now`, for any model with a camera and a time (watchlists' hits use it too), or None when
    every camera keeps its events for ever."""
    parts = []
    default_cutoff = retention_cutoff(now=now, days=settings.EVENT_RETENTION_DAYS)
    if default_cutoff is not None:
        parts.append(
            Q(
                **{
                    f"{camera_field}__retention_days__isnull": True,
                    f"{time_field}__lt": default_cutoff,
                }
            )
        )
    for days in _camera_retention_periods():
        cutoff = retention_cutoff(now=now, days=days)
        if cutoff is not None:
            parts.append(
                Q(**{f"{camera_field}__retention_days": days, f"{time_field}__lt": cutoff})
            )
    return retention_filters_any(parts)


def retention_filters_any(parts: list[Q]) -> Q | None:
    """Rows past any of these retention filters; None for none (nothing expires)."""
    return functools.reduce(operator.or_, parts) if parts else None


def _camera_retention_periods() -> list[int]:
    return list(
        Camera.objects.filter(retention_days__isnull=False)
        .values_list("retention_days", flat=True)
        .distinct()
        .order_by("retention_days")
    )


def _describe_cutoffs(*, now: datetime, older_than: timedelta | None) -> dict:
    if older_than is not None:
        return {"all cameras": (now - older_than).isoformat()}
    cutoffs = {}
    if settings.EVENT_RETENTION_DAYS:
        default = now - timedelta(days=settings.EVENT_RETENTION_DAYS)
        cutoffs["default"] = default.isoformat()
    for days in _camera_retention_periods():
        cutoff = retention_cutoff(now=now, days=days)
        if cutoff is not None:
            cutoffs[f"cameras keeping {days} days"] = cutoff.isoformat()
    return cutoffs


def _events_with_open_deliveries() -> QuerySet:
    """Ids of events some export delivery still has to carry."""
    if not apps.is_installed("exporters"):
        return PlateEvent.objects.none().values("pk")
    return PlateEvent.objects.filter(
        export_links__delivery__status__in=OPEN_DELIVERY_STATUSES
    ).values("pk")


def _locked(queryset: QuerySet) -> QuerySet:
    """Rows of this batch locked against a concurrent update (PostgreSQL; SQLite serialises
    writers anyway). Only the events' rows: the retention filter joins cameras."""
    if connection.features.has_select_for_update_of:
        return queryset.select_for_update(of=("self",))
    return queryset.select_for_update()


def _delete_events(expired, *, result: PurgeResult, batch_size: int, progress) -> None:
    total = expired.count()
    if result.dry_run:
        result.events_deleted = total
        return
    if progress:
        progress("events", 0, total)
    while True:
        ids = list(expired.order_by("captured_at").values_list("pk", flat=True)[:batch_size])
        if not ids:
            break
        with transaction.atomic():
            # Re-checked under the lock: a delivery opened since the ids were read holds it.
            rows = list(
                _locked(expired.filter(pk__in=ids)).values_list(
                    "pk", "captured_at", "plate_image", "frame_image"
                )
            )
            event_ids = [pk for pk, *_ in rows]
            deliveries = _deliveries_of(event_ids)
            PlateEvent.objects.filter(pk__in=event_ids).delete()
            result.deliveries_deleted += _deliveries_left_empty_delete(deliveries)
            plate_sets_after_delete(
                captured=[captured_at for _, captured_at, *_ in rows],
                tz=ZoneInfo(settings.TIME_ZONE),
                rolled_at=timezone.now(),
            )
        result.events_deleted += len(event_ids)
        _files_delete_after_commit([name for _, _, *names in rows for name in names], result)
        if progress:
            progress("events", min(result.events_deleted, total), total)
        if not rows:
            break  # every candidate got held meanwhile


def _deliveries_of(event_ids: list) -> list:
    if not apps.is_installed("exporters") or not event_ids:
        return []
    return list(
        PlateEvent.objects.filter(pk__in=event_ids, export_links__isnull=False)
        .values_list("export_links__delivery_id", flat=True)
        .distinct()
    )


def _deliveries_left_empty_delete(delivery_ids: list) -> int:
    """Delete the deliveries that carried only purged events (a batch delivery that also
    carried a kept event stays, as that event's history)."""
    if not delivery_ids:
        return 0
    delivery_model = apps.get_model("exporters", "ExportDelivery")
    empty = delivery_model.objects.filter(pk__in=delivery_ids, event_links__isnull=True)
    _, deleted = empty.delete()
    return deleted.get(delivery_model._meta.label, 0)


def _clear_images(with_images, *, result: PurgeResult, batch_size: int, progress) -> None:
    total = with_images.count()
    if result.dry_run:
        result.images_cleared = total
        return
    if progress:
        progress("images", 0, total)
    while True:
        ids = list(with_images.order_by("captured_at").values_list("pk", flat=True)[:batch_size])
        if not ids:
            break
        with transaction.atomic():
            rows = list(
                _locked(with_images.filter(pk__in=ids)).values_list(
                    "pk", "plate_image", "frame_image"
                )
            )
            PlateEvent.objects.filter(pk__in=[pk for pk, _, _ in rows]).update(
                plate_image="", frame_image=""
            )
        result.images_cleared += len(rows)
        _files_delete_after_commit([name for _, *names in rows for name in names], result)
        if progress:
            progress("images", min(result.images_cleared, total), total)
        if not rows:
            break


def _files_delete_after_commit(names: list[str], result: PurgeResult) -> None:
    names = [name for name in names if name]

    def delete():
        for name in names:
            try:
                default_storage.delete(name)
            except OSError:
                continue  # left for the orphan sweep
            result.files_deleted += 1

    if names:
        # Outside a transaction this runs now; inside one, once it commits.
        transaction.on_commit(delete)


def orphan_files_sweep(
    *, now: datetime | None = None, result: PurgeResult, progress: Progress | None = None
) -> None:
    """Delete image files that no event references and that are older than ORPHAN_GRACE
    (left by a crash between a commit and its file deletion, or by a restore)."""
    now = now or timezone.now()
    candidates = [
        name
        for name in _files_under(IMAGE_FOLDER)
        if default_storage.get_modified_time(name) < now - ORPHAN_GRACE
    ]
    for start in range(0, len(candidates), 500):
        chunk = candidates[start : start + 500]
        referenced = set()
        for plate_image, frame_image in PlateEvent.objects.filter(
            Q(plate_image__in=chunk) | Q(frame_image__in=chunk)
        ).values_list("plate_image", "frame_image"):
            referenced.update((plate_image, frame_image))
        for name in chunk:
            if name in referenced:
                continue
            if not result.dry_run:
                default_storage.delete(name)
            result.orphan_files_deleted += 1
        if progress:
            progress("orphans", min(start + 500, len(candidates)), len(candidates))
    if not result.dry_run:
        _empty_folders_remove(IMAGE_FOLDER)


def _files_under(folder: str):
    if not default_storage.exists(folder):
        return
    directories, files = default_storage.listdir(folder)
    for name in files:
        yield f"{folder}/{name}"
    for directory in directories:
        yield from _files_under(f"{folder}/{directory}")


def _empty_folders_remove(folder: str) -> None:
    """Day folders emptied by retention go too (local storage only)."""
    try:
        root = default_storage.path(folder)
    except NotImplementedError:
        return
    for path, _, _ in os.walk(root, topdown=False):
        if path != root and not os.listdir(path):
            try:
                os.rmdir(path)
            except OSError:
                continue


def _record(run: PurgeRun, result: PurgeResult, *, error: str = "") -> None:
    counts = asdict(result)
    for name in ("dry_run", "cutoffs"):
        counts.pop(name)
    for name, value in counts.items():
        setattr(run, name, value)
    run.finished_at = timezone.now()
    run.error = error
    run.save()
