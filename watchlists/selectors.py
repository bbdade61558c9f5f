"""Reads of the watchlists app: what each user may see of lists, entries and hits."""

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from cameras.services import ROLE_ADMIN

from .models import Hit, RejectReason, Watchlist, WatchlistEntry


def user_sees_covert(user) -> bool:
    """Admins see every covert list; others only those they own."""
    if not isinstance(user, get_user_model()):  # anonymous, or a device
        return False
    return user.is_superuser or user.groups.filter(name=ROLE_ADMIN).exists()


def _covert_filter(user) -> Q:
    if user_sees_covert(user):
        return Q()
    if not isinstance(user, get_user_model()):
        return Q(covert=False)
    return Q(covert=False) | Q(owners=user)


def watchlists_visible(*, user) -> QuerySet[Watchlist]:
    """Lists the user may see: every list, except covert ones they neither own nor admin."""
    return (
        Watchlist.objects.filter(_covert_filter(user))
        .distinct()
        .prefetch_related("cameras", "zones", "owners")
    )


def entries_visible(*, user, watchlist_id=None) -> QuerySet[WatchlistEntry]:
    """Entries of one list (or of every list, None) that the user may see."""
    queryset = WatchlistEntry.objects.filter(
        watchlist__in=watchlists_visible(user=user).values("pk")
    )
    return queryset if watchlist_id is None else queryset.filter(watchlist_id=watchlist_id)


def hits_visible(*, user) -> QuerySet[Hit]:
    """Hits the user may see: a covert list's only by admins and its owners."""
    queryset = Hit.objects.select_related(
        "watchlist", "reason", "acknowledged_by", "camera", "event"
    )
    if user_sees_covert(user):
        return queryset
    return queryset.filter(watchlist__in=watchlists_visible(user=user).values("pk"))


def reject_reasons_active() -> QuerySet[RejectReason]:
    """The reasons a rejection may give now."""
    return RejectReason.objects.filter(active=True)
