"""An exporter's watchlist filter never widens by itself: deleting the last list an exporter
is filtered by would leave it unfiltered (sending every read), so such an exporter is
disabled instead, with the reason in its last error, for an operator to decide."""

from django.db.models.signals import pre_delete
from django.utils import timezone

from watchlists.models import Watchlist

from ..models import ExporterConfig


def exporters_unfiltered_disable(*, watchlist: Watchlist) -> int:
    """Disable the enabled exporters whose only filter list is `watchlist`; how many."""
    filtered = ExporterConfig.objects.filter(watchlists=watchlist, enabled=True)
    ids = [
        pk
        for pk in filtered.values_list("pk", flat=True)
        if not ExporterConfig.watchlists.through.objects.filter(exporterconfig_id=pk)
        .exclude(watchlist_id=watchlist.pk)
        .exists()
    ]
    now = timezone.now()
    # A covert list is not named: every operator reads an exporter's last error.
    named = "" if watchlist.covert else f" {watchlist.name!r}"
    return ExporterConfig.objects.filter(pk__in=ids).update(
        enabled=False,
        last_error=f"Disabled: its watchlist filter{named} was deleted.",
        last_error_at=now,
        updated_at=now,
    )


def _watchlist_deleting(sender, instance, **kwargs):
    exporters_unfiltered_disable(watchlist=instance)


def watchlist_filters_connect() -> None:
    """Called by ExportersConfig.ready()."""
    pre_delete.connect(_watchlist_deleting, sender=Watchlist, dispatch_uid="exporters-filters")
