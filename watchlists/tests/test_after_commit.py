"""What a read's hits set off once it commits: a live frame and the lists' e-mails, only for
hits that were stored, and never an error for the device whose read was stored."""

import logging

import pytest

from events.models import PlateEvent
from events.reads import ReadIn
from events.services.update import plate_event_update
from watchlists.models import Hit
from watchlists.services import matching, notify

from .factories import WatchlistFactory, entry_add

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    """What left after the commit: {"frames": [hit plates broadcast], "mails": [hit ids]}."""
    out = {"frames": [], "mails": []}
    monkeypatch.setattr(
        matching, "hits_broadcast", lambda *, hits: out["frames"].extend(h.plate for h in hits)
    )
    monkeypatch.setattr(notify, "_emails_enqueue", out["mails"].extend)
    return out


@pytest.fixture
def notifying(db):
    listed = WatchlistFactory(name="Stolen", notify_emails=["desk@example.com"])
    entry_add(listed, "AB12CDE")
    return listed


def test_a_hit_is_broadcast_and_mailed_once_its_read_commits(
    ingest, sent, notifying, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ingest("AB12CDE")
    hit = Hit.objects.get()
    assert sent == {"frames": ["AB12CDE"], "mails": [str(hit.pk)]}


def test_a_read_without_a_hit_sends_no_frame_and_no_mail(
    ingest, sent, notifying, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ingest("XY99ZZZ")
    assert sent == {"frames": [], "mails": []}


def test_matching_that_fails_after_a_first_hit_sends_nothing_and_keeps_the_read(
    ingest, sent, notifying, monkeypatch, django_capture_on_commit_callbacks
):
    """The first list's hit row is written, the second list's fails: both roll back to the
    savepoint, so no frame or e-mail names a hit that does not exist."""
    entry_add(WatchlistFactory(name="Second", notify_emails=["duty@example.com"]), "AB12CDE")
    snapshot, calls = matching._snapshot, []

    def second_fails(event, draft, entry):
        calls.append(draft)
        if len(calls) == 2:
            raise RuntimeError("matcher bug on the second list")
        return snapshot(event, draft, entry)

    monkeypatch.setattr(matching, "_snapshot", second_fails)
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest("AB12CDE")
    assert len(calls) == 2
    assert PlateEvent.objects.get().pk == result.id and not Hit.objects.exists()
    assert sent == {"frames": [], "mails": []}


def test_a_refined_read_that_becomes_listed_is_broadcast_and_mailed(
    ingest, sent, notifying, django_capture_on_commit_callbacks
):
    result = ingest("AB12CDF")
    event = PlateEvent.objects.select_related("camera", "device").get(pk=result.id)
    with django_capture_on_commit_callbacks(execute=True):
        plate_event_update(event=event, read=ReadIn(plate="AB12CDE", captured_at=event.captured_at))
    hit = Hit.objects.get()
    assert hit.event_id == event.pk
    assert sent == {"frames": ["AB12CDE"], "mails": [str(hit.pk)]}


def test_a_broker_that_is_down_costs_the_mail_not_the_stored_read(
    ingest, notifying, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    """Queueing the e-mail runs after the commit: its failure is logged, not raised into the
    device's request (which would send the stored read again)."""
    from celery import current_app

    def down(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(current_app, "send_task", down)
    monkeypatch.setattr(matching, "hits_broadcast", lambda *, hits: None)
    with caplog.at_level(logging.WARNING, logger="anpr.watchlists"):
        with django_capture_on_commit_callbacks(execute=True):
            ingest("AB12CDE")
    hit = Hit.objects.get()
    assert any(str(hit.pk) in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert "AB12CDE" not in caplog.text
