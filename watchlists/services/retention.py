"""Retention of hits: a hit outlives its read, and goes after its list's `hit_retention_days`
(empty: its camera's event retention; 0: kept for ever). The purge of events runs this as
its "hits" step (events/purge_steps.py, registered in watchlists' AppConfig.ready())."""

from datetime import datetime

from django.db import transaction
from django.db.models import Q

from cameras.models import Camera
from events.services.retention import (
    camera_retention_expired,
    retention_cutoff,
    retention_filters_any,
)

from ..models import Hit, Watchlist


def hits_expired_filter(*, now: datetime) -> Q | None:
    """Which hits are past their retention as of `now`, or None when none can be."""
    parts = []
    periods = (
        Watchlist.objects.filter(hit_retention_days__gt=0)
        .values_list("hit_retention_days", flat=True)
        .distinct()
        .order_by("hit_retention_days")
    )
    for days in periods:
        cutoff = retention_cutoff(now=now, days=days)
        if cutoff is not None:
            parts.append(Q(watchlist__hit_retention_days=days, captured_at__lt=cutoff))
    by_camera = camera_retention_expired(now=now)
    if by_camera is not None:
        parts.append(Q(watchlist__hit_retention_days__isnull=True) & by_camera)
    return retention_filters_any(parts)


def hits_purge(
    *, now: datetime, camera: Camera | None = None, batch_size: int, dry_run: bool = False
) -> int:
    """Delete the hits past their retention (of one camera, or all), oldest first, a batch a
    transaction; a dry run counts them. Returns the count."""
    expired = hits_expired_filter(now=now)
    if expired is None:
        return 0
    scope = Hit.objects.filter(expired)
    if camera is not None:
        scope = scope.filter(camera=camera)
    if dry_run:
        return scope.count()
    deleted = 0
    while True:
        ids = list(scope.order_by("captured_at").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        with transaction.atomic():
            count, _ = Hit.objects.filter(pk__in=ids).delete()
        deleted += count
