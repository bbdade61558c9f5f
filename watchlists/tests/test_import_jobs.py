"""Imports over WATCHLIST_IMPORT_ASYNC_LINES lines run as a task: 202 and a job to follow,
its progress, then the report a synchronous import gives; one import of a list at a time;
a failure leaves the list as it was; the job is seen only by who may see the list."""

import pytest

from watchlists import tasks
from watchlists.models import WatchlistEntry, WatchlistImport
from watchlists.services import import_jobs, importing

from .factories import WatchlistFactory, entry_add
from .test_api import _csv, client_for, entries_url

pytestmark = pytest.mark.django_db
FILE = "plate,description\nKEEP1,same\nCHANGE1,new words\nNEW1,fresh\nNEW2,fresh too\n"


@pytest.fixture
def queued(monkeypatch, settings, django_capture_on_commit_callbacks):
    """Task messages sent, as (task name, args); files over 3 lines run as a task."""
    settings.WATCHLIST_IMPORT_ASYNC_LINES = 3
    sent = []
    monkeypatch.setattr(
        import_jobs.current_app, "send_task", lambda name, args, **kw: sent.append((name, args))
    )
    return sent


def post(client, watchlist, text=FILE, **fields):
    return client.post(
        f"{entries_url(watchlist)}import/", {"file": _csv(text), **fields}, format="multipart"
    )


def plates(watchlist):
    return dict(
        WatchlistEntry.objects.filter(watchlist=watchlist).values_list("plate", "description")
    )


def a_list():
    listed = WatchlistFactory(match_strategy="exact")
    entry_add(listed, "KEEP1", description="same")
    entry_add(listed, "CHANGE1", description="old words")
    entry_add(listed, "GONE1")
    return listed


def test_a_large_file_answers_202_and_the_job_ends_with_the_dry_runs_report(
    operator_client, queued, settings, django_capture_on_commit_callbacks
):
    listed = a_list()
    settings.WATCHLIST_IMPORT_ASYNC_LINES = 100
    dry = post(operator_client, listed, mode="replace", dry_run="true").json()  # synchronous
    settings.WATCHLIST_IMPORT_ASYNC_LINES = 3
    with django_capture_on_commit_callbacks(execute=True):
        started = post(operator_client, listed, mode="replace")
    assert started.status_code == 202, started.json()
    job = started.json()
    assert started["Location"] == job["url"] and job["url"].endswith(f"/imports/{job['id']}/")
    assert (job["status"], job["lines_total"], job["lines_done"]) == ("queued", 5, 0)
    assert queued == [(import_jobs.IMPORT_RUN_TASK, (job["id"],))]
    assert set(plates(listed)) == {"KEEP1", "CHANGE1", "GONE1"}  # nothing yet

    assert tasks.watchlist_import_run(job["id"]) == "done"
    done = operator_client.get(job["url"]).json()
    assert (done["status"], done["lines_done"], done["error"]) == ("done", 5, "")
    assert {**done["report"], "dry_run": True} == dry
    assert plates(listed) == {
        "KEEP1": "same",
        "CHANGE1": "new words",
        "NEW1": "fresh",
        "NEW2": "fresh too",
    }
    assert tasks.watchlist_import_run(job["id"]) == "skipped"  # run twice: nothing more
    assert WatchlistImport.objects.get().content == b""  # the upload is not kept


def test_a_second_import_of_a_list_is_a_409_naming_it(operator_client, queued):
    listed = a_list()
    assert post(operator_client, listed).status_code == 202
    for text in (FILE, "plate\nSMALL1\n"):  # a large one, and a small one run at once
        refused = post(operator_client, listed, text)
        assert refused.status_code == 409, refused.json()
        assert listed.name in refused.json()["detail"]
    other = WatchlistFactory()
    assert post(operator_client, other).status_code == 202  # another list may import
    assert WatchlistImport.objects.count() == 2


def test_a_failed_job_leaves_the_list_as_it_was(operator_client, queued, monkeypatch):
    listed = a_list()
    job = post(operator_client, listed, mode="replace").json()

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(importing, "_entries_create", broken)  # after the deletes and updates
    assert tasks.watchlist_import_run(job["id"]) == "failed"
    failed = operator_client.get(job["url"]).json()
    assert failed["status"] == "failed" and failed["report"] is None and failed["error"]
    assert plates(listed) == {"KEEP1": "same", "CHANGE1": "old words", "GONE1": ""}
    assert post(operator_client, listed).status_code == 202  # the list is free again


def test_a_refused_file_fails_the_job_naming_why(operator_client, queued):
    listed = a_list()
    job = post(operator_client, listed, "plate,wheels\nA1,4\nB2,4\nC3,4\nD4,4\n").json()
    tasks.watchlist_import_run(job["id"])
    failed = operator_client.get(job["url"]).json()
    assert failed["status"] == "failed" and "header" in failed["error"]


def test_progress_is_reported_while_the_lines_are_read(monkeypatch):
    import io

    listed = WatchlistFactory(match_strategy="exact")
    monkeypatch.setattr(importing, "PROGRESS_EVERY", 2)
    seen = []
    text = "plate\n" + "".join(f"P{n}X\n" for n in range(7))
    importing.entries_import(
        watchlist=listed, stream=io.BytesIO(text.encode()), progress=seen.append
    )
    assert seen == [2, 4, 6, 8]  # lines read so far, the header included
    assert importing.lines_count(io.BytesIO(text.encode())) == 8
    assert importing.lines_count(io.BytesIO(b"plate\nA1")) == 2


def test_who_sees_and_starts_jobs(
    api_client, device_client, viewer, viewer_client, operator, queued
):
    listed = a_list()
    covert = WatchlistFactory(covert=True)
    covert.owners.add(operator)
    job = post(client_for(operator), listed).json()
    hidden = post(client_for(operator), covert).json()
    assert hidden["status"] == "queued"
    assert api_client.get(job["url"]).status_code == 401
    assert device_client.get(job["url"]).status_code == 403
    assert viewer_client.get(job["url"]).json()["id"] == job["id"]
    assert viewer_client.get(f"/api/watchlists/{listed.pk}/imports/").json()["count"] == 1
    assert viewer_client.get(hidden["url"]).status_code == 404  # covert: owners and admins
    assert viewer_client.get(f"/api/watchlists/{covert.pk}/imports/").json()["count"] == 0
    assert post(viewer_client, WatchlistFactory()).status_code == 403  # viewers start none
    assert api_client.get(job["url"] + "x/").status_code in (401, 404)


def test_the_command_shows_progress_and_waits_for_no_running_import(tmp_path, monkeypatch):
    from django.core.management import CommandError, call_command

    listed = WatchlistFactory(match_strategy="exact")
    monkeypatch.setattr(importing, "PROGRESS_EVERY", 2)
    path = tmp_path / "l.csv"
    path.write_text("plate\nA1X\nB2X\nC3X\n")
    import io

    out, err = io.StringIO(), io.StringIO()
    call_command("watchlist_import", str(listed.pk), str(path), stdout=out, stderr=err)
    assert "2 lines read" in err.getvalue() and '"created": 3' in out.getvalue()
    WatchlistImport.objects.create(watchlist=listed)  # queued
    with pytest.raises(CommandError, match=listed.name):
        call_command("watchlist_import", str(listed.pk), str(path))


def test_beat_requeues_lost_imports_and_ends_fetches_whose_worker_died(queued):
    from datetime import timedelta

    from django.utils import timezone

    listed, fetched = a_list(), WatchlistFactory()
    lost = WatchlistImport.objects.create(watchlist=listed)
    dead = WatchlistImport.objects.create(watchlist=fetched, source="url", status="running")
    long_ago = timezone.now() - timedelta(hours=1)
    WatchlistImport.objects.update(updated_at=long_ago)
    tasks.watchlist_sources_sweep()
    assert queued == [(import_jobs.IMPORT_RUN_TASK, (str(lost.pk),))]
    dead.refresh_from_db()
    assert dead.status == "failed" and "stopped" in dead.error
