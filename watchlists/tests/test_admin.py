"""The admin console: entries added there are matched like any other (their keys are
written), and the admin refuses what the API refuses."""

import pytest
from django.test import Client

from watchlists.models import Hit, Watchlist, WatchlistEntry

from .factories import WatchlistFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def test_an_entry_added_in_the_admin_hits(admin_client, admin_user, ingest):
    listed = WatchlistFactory(match_strategy="ocr", edit_budget=1)
    response = admin_client.post(
        "/admin/watchlists/watchlistentry/add/",
        {"watchlist": listed.pk, "plate_raw": "adm-123", "category": "wanted"},
    )
    assert response.status_code == 302, response.content[:2000]
    entry = WatchlistEntry.objects.get()
    assert (entry.plate, entry.created_by) == ("ADM123", admin_user)
    ingest("A0M1Z3")  # D/0, 2/Z folded; nothing else
    assert Hit.objects.get().entry == entry


def test_the_admin_refuses_an_allow_list_without_scope(admin_client):
    response = admin_client.post(
        "/admin/watchlists/watchlist/add/",
        {
            "name": "gate",
            "kind": "allow",
            "priority": 0,
            "colour": "#d32f2f",
            "match_strategy": "exact",
            "edit_budget": 0,
            "directions": "[]",
            "schedule_weekdays": "[0, 1, 2, 3, 4, 5, 6]",
            "schedule_windows": "[]",
            "time_zone": "UTC",
        },
    )
    assert response.status_code == 200
    assert b"needs cameras or zones" in response.content
    assert not Watchlist.objects.exists()


def test_the_admin_refuses_a_star_pattern(admin_client):
    listed = WatchlistFactory(match_strategy="pattern")
    response = admin_client.post(
        "/admin/watchlists/watchlistentry/add/",
        {"watchlist": listed.pk, "plate_raw": "*", "category": "other"},
    )
    assert response.status_code == 200 and b"would match nearly every plate" in response.content
    assert not WatchlistEntry.objects.exists()


def test_covert_lists_stay_hidden_from_operators_in_the_admin(operator, admin_user, camera):
    """Operators are staff: the admin shows them no covert list they do not own, nor its
    entries and hits, and does not offer it when adding an entry."""
    from .factories import entry_add
    from .test_api import make_hit

    covert = WatchlistFactory(name="covert-ops", covert=True)
    owned = WatchlistFactory(name="owned-ops", covert=True)
    owned.owners.set([operator])
    open_list = WatchlistFactory(name="open-list")
    entry_add(covert, "COV123")
    entry_add(owned, "OWN123")
    entry_add(open_list, "OPN123")
    make_hit(covert, camera, plate="COV123")

    def pages(user):
        client = Client()
        client.force_login(user)
        return {
            path: client.get(f"/admin/watchlists/{path}")
            for path in ("watchlist/", "watchlistentry/", "watchlistentry/add/", "hit/")
        }

    seen = pages(operator)
    assert all(response.status_code == 200 for response in seen.values())
    for response in seen.values():
        assert b"covert-ops" not in response.content and b"COV123" not in response.content
    assert b"owned-ops" in seen["watchlist/"].content
    assert b"OWN123" in seen["watchlistentry/"].content
    assert b"open-list" in seen["watchlistentry/add/"].content
    client = Client()
    client.force_login(operator)
    change = client.get(f"/admin/watchlists/watchlist/{covert.pk}/change/")
    assert change.status_code == 302  # "does not exist", as for any unknown id
    refused = client.post(
        "/admin/watchlists/watchlistentry/add/", {"watchlist": covert.pk, "plate_raw": "NEW1"}
    )
    assert refused.status_code == 200 and not WatchlistEntry.objects.filter(plate="NEW1")
    everything = pages(admin_user)
    assert b"covert-ops" in everything["watchlist/"].content
    assert b"COV123" in everything["watchlistentry/"].content
    assert b"covert-ops" in everything["watchlistentry/add/"].content
