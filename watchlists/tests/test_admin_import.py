"""The admin's CSV import: a small file answers its report on the page, a large one becomes
an import whose page shows its progress; a list fetched from a URL takes no hand edits;
viewers (not staff) and operators without the list see nothing."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from watchlists.models import WatchlistEntry, WatchlistImport
from watchlists.services import import_jobs

from .factories import WatchlistFactory, entry_add

pytestmark = pytest.mark.django_db


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def upload(client, watchlist, text, **fields):
    return client.post(
        f"/admin/watchlists/watchlist/{watchlist.pk}/import/",
        {"file": SimpleUploadedFile("l.csv", text.encode()), "mode": "upsert", **fields},
    )


def test_a_small_file_answers_its_report_on_the_page(admin_user):
    listed = WatchlistFactory(match_strategy="exact")
    client = client_for(admin_user)
    page = client.get(f"/admin/watchlists/watchlist/{listed.pk}/change/")
    assert f"/admin/watchlists/watchlist/{listed.pk}/import/" in page.content.decode()
    answer = upload(client, listed, "plate\nAB12CD\nbad plate!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n")
    text = answer.content.decode()
    assert answer.status_code == 200 and "created: 1" in text and "line 3" in text
    assert list(WatchlistEntry.objects.values_list("plate", flat=True)) == ["AB12CD"]


def test_a_large_file_becomes_an_import_with_its_progress_page(admin_user, settings, monkeypatch):
    settings.WATCHLIST_IMPORT_ASYNC_LINES = 2
    monkeypatch.setattr(import_jobs.current_app, "send_task", lambda *a, **kw: None)
    listed = WatchlistFactory(match_strategy="exact")
    client = client_for(admin_user)
    answer = upload(client, listed, "plate\nAB12CD\nEF34GH\n")
    job = WatchlistImport.objects.get()
    assert answer.status_code == 302 and str(job.pk) in answer["Location"]
    page = client.get(answer["Location"]).content.decode()
    assert "0 of 3" in page and "Queued" in page
    assert not WatchlistEntry.objects.exists()
    busy = upload(client, listed, "plate\nAB12CD\n")  # one import of a list at a time
    assert busy.status_code == 200 and listed.name in busy.content.decode()


def test_a_source_lists_entries_are_read_only_in_the_admin(admin_user):
    listed = WatchlistFactory(match_strategy="exact")
    entry = entry_add(listed, "OLD1")
    listed.source_url = "https://example.com/list.csv"
    listed.save()
    client = client_for(admin_user)
    refused = upload(client, listed, "plate\nNEW1\n")
    assert "source_url" in refused.content.decode()
    added = client.post(
        "/admin/watchlists/watchlistentry/add/", {"watchlist": listed.pk, "plate_raw": "NEW1"}
    )
    assert added.status_code == 200 and "source_url" in added.content.decode()
    deleted = client.post(f"/admin/watchlists/watchlistentry/{entry.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 403
    assert list(WatchlistEntry.objects.values_list("plate", flat=True)) == ["OLD1"]


def test_operators_import_only_into_lists_they_see(operator, viewer):
    covert = WatchlistFactory(covert=True)
    assert upload(client_for(operator), covert, "plate\nAB12CD\n").status_code == 404
    assert upload(client_for(viewer), covert, "plate\nAB12CD\n").status_code == 302  # login
    assert not WatchlistEntry.objects.exists()
