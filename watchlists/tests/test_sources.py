"""Lists fetched from a URL: the fetch goes through the outbound address checks, imports
with the list's source_mode, and any failure (a refused address, a bad answer, a malformed
or oversized file) leaves the list as it was and says why; hand edits of such a list are
refused naming source_url."""

import ipaddress
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from watchlists import tasks
from watchlists.models import Watchlist, WatchlistEntry, WatchlistImport
from watchlists.services import sources

from .factories import WatchlistFactory, entry_add
from .test_api import LISTS, _csv, entries_url

pytestmark = pytest.mark.django_db


class Source:
    """A local HTTP server answering `body` (and `status`) at any path; `requests` counts."""

    def __init__(self):
        self.body, self.status, self.requests = b"", 200, 0
        self.announce_length, self.delay = True, 0.0
        source = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                source.requests += 1
                time.sleep(source.delay)
                self.send_response(source.status)
                if source.announce_length:
                    self.send_header("Content-Length", str(len(source.body)))
                self.end_headers()
                self.wfile.write(source.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/list.csv"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def source(settings):
    settings.WATCHLIST_SOURCE_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    served = Source()
    yield served
    served.close()


def a_source_list(url, **fields):
    listed = WatchlistFactory(match_strategy="exact", **fields)
    entry_add(listed, "OLD1", description="before")
    listed.source_url = url
    listed.save()
    return listed


def plates(watchlist):
    return dict(
        WatchlistEntry.objects.filter(watchlist=watchlist).values_list("plate", "description")
    )


def test_a_fetch_replaces_the_entries_and_records_its_import(source):
    source.body = b"plate,description\nAB12CD,stolen\nEF34GH,wanted\n"
    listed = a_source_list(source.url)
    assert sources.source_fetch(watchlist_id=listed.pk) == "ok"
    assert plates(listed) == {"AB12CD": "stolen", "EF34GH": "wanted"}  # replace: OLD1 gone
    listed.refresh_from_db()
    assert (listed.last_fetch_status, listed.last_fetch_error) == ("ok", "")
    job = WatchlistImport.objects.get()
    assert (job.source, job.mode, job.status, job.lines_total) == ("url", "replace", "done", 3)
    assert job.report["counts"]["created"] == 2 and job.report["counts"]["removed"] == 1
    # Not due again before its interval: a second run (a redelivered task) fetches nothing.
    assert tasks.watchlist_source_fetch(listed.pk) == "not due"
    assert source.requests == 1


def test_upsert_mode_keeps_the_entries_the_file_lacks(source):
    source.body = b"plate\nAB12CD\n"
    listed = a_source_list(source.url, source_mode="upsert")
    sources.source_fetch(watchlist_id=listed.pk)
    assert set(plates(listed)) == {"OLD1", "AB12CD"}


@pytest.mark.parametrize(
    "body, status, reason",
    [
        (b"plate,wheels\nAB12CD,4\n", 200, "header"),
        (b"plate,category\nAB12CD,other\nEF34GH,spaceship\n", 200, "line 3"),
        (b"not found", 404, "HTTP 404"),
        (b"plate\n" + b"AB12CD\n" * 400, 200, "larger than 1024 bytes"),
    ],
    ids=["bad header", "a refused line", "not found", "too large"],
)
def test_a_failed_fetch_leaves_the_list_unchanged_and_says_why(
    source, settings, body, status, reason
):
    settings.WATCHLIST_SOURCE_MAX_BYTES = 1024
    source.body, source.status = body, status
    listed = a_source_list(source.url)
    assert sources.source_fetch(watchlist_id=listed.pk) == "failed"
    assert plates(listed) == {"OLD1": "before"}
    listed.refresh_from_db()
    assert listed.last_fetch_status == "failed" and reason in listed.last_fetch_error


def test_a_file_without_its_length_is_cut_at_the_cap(source, settings):
    settings.WATCHLIST_SOURCE_MAX_BYTES = 1024
    source.body, source.announce_length = b"plate\n" + b"AB12CD\n" * 400, False
    listed = a_source_list(source.url)
    assert sources.source_fetch(watchlist_id=listed.pk) == "failed"
    listed.refresh_from_db()
    assert "larger than 1024 bytes" in listed.last_fetch_error
    assert plates(listed) == {"OLD1": "before"}


def test_a_slow_source_times_out(source, settings):
    settings.WATCHLIST_SOURCE_TIMEOUT = 0.3
    source.body, source.delay = b"plate\nAB12CD\n", 1.5
    listed = a_source_list(source.url)
    started = time.monotonic()
    assert sources.source_fetch(watchlist_id=listed.pk) == "failed"
    assert time.monotonic() - started < 1.4
    listed.refresh_from_db()
    assert "Timed out" in listed.last_fetch_error and plates(listed) == {"OLD1": "before"}


def test_a_private_address_is_refused_without_a_request(source, settings, operator_client):
    settings.WATCHLIST_SOURCE_ALLOWED_NETWORKS = []
    source.body = b"plate\nAB12CD\n"
    listed = a_source_list(source.url.replace("127.0.0.1", "localhost"))
    assert sources.source_fetch(watchlist_id=listed.pk) == "failed"
    assert source.requests == 0 and plates(listed) == {"OLD1": "before"}
    shown = operator_client.get(f"{LISTS}{listed.pk}/").json()
    assert shown["last_fetch_status"] == "failed"
    assert "not allowed" in shown["last_fetch_error"]
    assert "WATCHLIST_SOURCE_ALLOWED_NETWORKS" in shown["last_fetch_error"]
    assert "127.0.0.1" not in shown["last_fetch_error"]


def test_beat_queues_the_lists_that_are_due(monkeypatch):
    sent = []
    monkeypatch.setattr(
        sources.current_app, "send_task", lambda name, args, **kw: sent.append((name, args))
    )
    now = timezone.now()
    due = WatchlistFactory(source_url="https://example.com/a.csv", fetch_interval_minutes=60)
    Watchlist.objects.filter(pk=due.pk).update(last_fetched_at=now - timedelta(minutes=61))
    never = WatchlistFactory(source_url="https://example.com/b.csv")
    fresh = WatchlistFactory(source_url="https://example.com/c.csv")
    Watchlist.objects.filter(pk=fresh.pk).update(last_fetched_at=now - timedelta(minutes=5))
    WatchlistFactory()  # no source
    assert tasks.watchlist_sources_sweep() == 2
    assert sorted(args for _, args in sent) == sorted([(due.pk,), (never.pk,)])
    assert {name for name, _ in sent} == {sources.FETCH_TASK}


def test_a_source_lists_entries_are_not_edited_by_hand(operator_client):
    listed = a_source_list("https://example.com/list.csv")
    entry = WatchlistEntry.objects.get()
    refused = [
        operator_client.post(entries_url(listed), {"plate": "ZZ99"}, format="json"),
        operator_client.patch(
            f"{entries_url(listed)}{entry.pk}/", {"description": "x"}, format="json"
        ),
        operator_client.delete(f"{entries_url(listed)}{entry.pk}/"),
        operator_client.post(
            f"{entries_url(listed)}import/", {"file": _csv("plate\nAA11\n")}, format="multipart"
        ),
    ]
    for response in refused:
        assert response.status_code == 400, response
        assert "source_url" in response.json()["errors"]
    assert plates(listed) == {"OLD1": "before"}


@pytest.mark.parametrize(
    "url",
    ["https://user:secret@example.com/list.csv", "ftp://example.com/list.csv", "https://"],
)
def test_a_source_url_with_credentials_or_another_scheme_is_refused(operator_client, url):
    created = operator_client.post(LISTS, {"name": "fetched", "source_url": url}, format="json")
    assert created.status_code == 400 and "source_url" in created.json()["errors"]


def test_viewers_see_the_source_but_cannot_set_it(viewer_client, operator_client):
    listed = WatchlistFactory()
    url = "https://example.com/list.csv"
    changed = {"source_url": url, "fetch_interval_minutes": 30}
    assert viewer_client.patch(f"{LISTS}{listed.pk}/", changed, format="json").status_code == 403
    Watchlist.objects.filter(pk=listed.pk).update(
        last_fetched_at=timezone.now(), last_fetch_status="failed", last_fetch_error="HTTP 404"
    )
    answer = operator_client.patch(f"{LISTS}{listed.pk}/", changed, format="json")
    assert answer.status_code == 200 and answer.json()["source_url"] == url
    # A new URL is fetched at beat's next look; the old one's outcome is gone.
    assert (answer.json()["last_fetched_at"], answer.json()["last_fetch_error"]) == (None, "")
    assert viewer_client.get(f"{LISTS}{listed.pk}/").json()["fetch_interval_minutes"] == 30
    too_often = {"fetch_interval_minutes": 1}
    answer = operator_client.patch(f"{LISTS}{listed.pk}/", too_often, format="json")
    assert answer.status_code == 400 and "fetch_interval_minutes" in answer.json()["errors"]
