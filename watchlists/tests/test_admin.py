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
    assert response.status_code == 200 and b"would match every plate" in response.content
    assert not WatchlistEntry.objects.exists()
