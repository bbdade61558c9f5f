"""Factories of the watchlists app: entries go through the service, so they have keys."""

import factory

from watchlists.models import RejectReason, Watchlist, WatchlistEntry
from watchlists.services.entries import entry_save, plate_for_list


class WatchlistFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Watchlist

    name = factory.Sequence(lambda n: f"List {n}")


def entry_add(watchlist: Watchlist, plate: str, **values) -> WatchlistEntry:
    """An entry on `watchlist`, stored with its match keys."""
    entry = WatchlistEntry(
        watchlist=watchlist,
        plate=plate_for_list(watchlist=watchlist, raw=plate),
        plate_raw=plate,
        **values,
    )
    return entry_save(entry=entry)


class RejectReasonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RejectReason

    code = factory.Sequence(lambda n: f"reason-{n}")
    label = factory.Sequence(lambda n: f"Reason {n}")
