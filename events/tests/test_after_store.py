"""The after-store registry: other apps' steps run in the declared order with the stored
events, inside the read's transaction (after commit where asked), for new events and, where a
step wants them, events refined in place; and a lone read no step has work for stays one
INSERT without a transaction."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from conftest import require_service
from events import after_store
from events.after_store import AfterStoreStep, after_store_register, after_store_unregister
from events.models import PlateEvent
from events.reads import ReadIn
from events.services.ingest import plate_events_ingest
from events.services.update import plate_event_update
from exporters.models import ExportDelivery, ExporterConfig


def _read(**overrides) -> ReadIn:
    values = {"plate": "ab-12 cde", "captured_at": timezone.now() - timedelta(seconds=5)}
    values.update(overrides)
    return ReadIn(**values)


@pytest.fixture
def steps():
    """Register test steps under names of apps still to come; removed afterwards."""
    registered = []

    def register(step):
        after_store_register(step)
        registered.append(step.name)

    yield register
    for name in registered:
        after_store_unregister(name)


def _recorder(name, calls):
    def record(*, events, created):
        stored = PlateEvent.objects.filter(pk__in=[e.pk for e in events]).count()
        calls.append((name, [e.plate for e in events], created, stored, connection.in_atomic_block))

    return record


@pytest.mark.django_db
def test_steps_run_in_the_declared_order_with_the_stored_events(device, camera, steps):
    calls = []
    # Registered out of order: ORDER decides (a pass is joined before watchlists match it).
    steps(AfterStoreStep(name="watchlists", stored=_recorder("watchlists", calls)))
    steps(AfterStoreStep(name="passes", stored=_recorder("passes", calls)))
    assert [s.name for s in after_store.after_store_steps()][:2] == ["passes", "watchlists"]

    plate_events_ingest(device=device, reads=[_read(event_id="a"), _read(event_id="b")])

    # Each saw both events, already stored and inside the read's transaction.
    assert calls == [
        ("passes", ["AB12CDE", "AB12CDE"], True, 2, True),
        ("watchlists", ["AB12CDE", "AB12CDE"], True, 2, True),
    ]


@pytest.mark.django_db
def test_a_failing_step_rolls_the_read_back(device, camera, steps):
    def refuse(*, events, created):
        raise RuntimeError("watchlist index unavailable")

    steps(AfterStoreStep(name="watchlists", stored=refuse))
    with pytest.raises(RuntimeError):
        plate_events_ingest(device=device, reads=[_read(event_id="a")])
    assert not PlateEvent.objects.exists()


@pytest.mark.django_db
def test_committed_parts_run_after_the_commit_only(
    device, camera, steps, django_capture_on_commit_callbacks
):
    calls = []
    steps(AfterStoreStep(name="watchlists", committed=_recorder("watchlists", calls)))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        plate_events_ingest(device=device, reads=[_read(event_id="a")])
    assert calls == []  # not before the commit
    for callback in callbacks:
        callback()
    assert [name for name, *_ in calls] == ["watchlists"]


@pytest.mark.django_db
def test_an_update_in_place_runs_only_the_steps_that_want_updates(device, camera, steps):
    calls = []
    steps(AfterStoreStep(name="passes", stored=_recorder("passes", calls), updates=True))
    steps(AfterStoreStep(name="watchlists", stored=_recorder("watchlists", calls)))
    [result] = plate_events_ingest(device=device, reads=[_read(event_id="a")])
    calls.clear()
    event = PlateEvent.objects.select_related("camera").get(pk=result.id)

    plate_event_update(event=event, read=_read(event_id="a", plate="XY99ZZZ"))

    # The step sees the event as updated (its new plate), inside the transaction.
    assert calls == [("passes", ["XY99ZZZ"], False, 1, True)]


def test_a_step_must_be_named_in_the_order():
    with pytest.raises(ValueError, match="not named"):
        after_store_register(AfterStoreStep(name="unknown"))


@pytest.mark.django_db
def test_a_step_without_work_for_the_camera_is_skipped(device, camera, steps):
    calls = []
    steps(
        AfterStoreStep(
            name="watchlists", stored=_recorder("watchlists", calls), work_sql=lambda: "1 = 0"
        )
    )
    steps(
        AfterStoreStep(name="passes", stored=_recorder("passes", calls), work_sql=lambda: "1 = 1")
    )
    plate_events_ingest(device=device, reads=[_read(event_id="a")])
    assert [name for name, *_ in calls] == ["passes"]


@pytest.mark.django_db(transaction=True)
def test_a_lone_read_is_one_insert_without_a_transaction_when_no_step_has_work(
    device, camera, monkeypatch
):
    """The hottest path: one read, no image, no exporter enabled. An enabled exporter makes
    it a transaction that also writes the delivery."""
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "the one-read INSERT … RETURNING path is PostgreSQL's own")
    opened = []
    atomic = transaction.atomic

    def atomic_spy(*args, **kwargs):
        opened.append(True)
        return atomic(*args, **kwargs)

    monkeypatch.setattr(transaction, "atomic", atomic_spy)

    [result] = plate_events_ingest(device=device, reads=[_read(event_id="a")])
    assert result.status == "created" and PlateEvent.objects.filter(pk=result.id).exists()
    assert opened == []
    assert not ExportDelivery.objects.exists()

    ExporterConfig.objects.create(name="sink", url="https://receiver.example/hook")
    [result] = plate_events_ingest(device=device, reads=[_read(event_id="b")])
    assert opened  # the read and its delivery in one transaction
    assert ExportDelivery.objects.filter(events=result.id).count() == 1
