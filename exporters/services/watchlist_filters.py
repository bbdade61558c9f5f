"""An exporter's watchlist filter never widens by itself: deleting the last list an exporter
is filtered by would leave it unfiltered (sending every read), so such an exporter is
disabled instead, with the reason in its last error, for an operator to decide.

The check runs once the lists are gone (post_delete), not before: the admin's "delete
selected" deletes several lists at once, and none of them may count as a list left."""

from django.db.models.signals import post_delete, pre_delete
from django.utils import timezone

from watchlists.models import Watchlist

from ..models import ExporterConfig

#: What a list being deleted carries from its pre_delete to its post_delete: the ids of the
#: exporters it filters.
_FILTERED = "exporters_filtered_ids"


def exporters_unfiltered_disable(*, exporter_ids, watchlist: Watchlist) -> int:
    """Disable those of these exporters that no list filters any more; how many. The reason
    names the deleted list unless it was covert (an exporter's viewers may not see it)."""
    now = timezone.now()
    named = "a covert list" if watchlist.covert else repr(watchlist.name)
    return ExporterConfig.objects.filter(pk__in=exporter_ids, watchlists=None).update(
        enabled=False,
        last_error=f"Disabled: its watchlist filter {named} was deleted.",
        last_error_at=now,
        updated_at=now,
    )


def _watchlist_deleting(sender, instance, **kwargs):
    filtered = ExporterConfig.objects.filter(watchlists=instance)
    instance.__dict__[_FILTERED] = list(filtered.values_list("pk", flat=True))


def _watchlist_deleted(sender, instance, **kwargs):
    exporter_ids = instance.__dict__.pop(_FILTERED, None)
    if exporter_ids:
        exporters_unfiltered_disable(exporter_ids=exporter_ids, watchlist=instance)


def watchlist_filters_connect() -> None:
    """Called by ExportersConfig.ready()."""
    pre_delete.connect(_watchlist_deleting, sender=Watchlist, dispatch_uid="exporters-filters")
    post_delete.connect(_watchlist_deleted, sender=Watchlist, dispatch_uid="exporters-filters")
