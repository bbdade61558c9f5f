"""Planning deliveries with the events (filters, batches, rollback), and which events count
as exported."""

import json

import pytest
from django.db import transaction

from cameras.tests.factories import CameraFactory, ZoneFactory
from events.filters import PlateEventFilter
from events.models import PlateEvent
from events.tests.factories import PlateEventFactory
from exporters import services
from exporters.models import ExportDelivery
from exporters.tests.outbox import attempt, plan

pytestmark = pytest.mark.django_db

Status = ExportDelivery.Status


# --- Planning ---------------------------------------------------------------------------------


def test_plan_follows_each_exporters_filters(exporter_factory):
    north, south = CameraFactory(slug="north"), CameraFactory(slug="south")
    gate = ZoneFactory(camera=north, name="gate")
    by_camera = exporter_factory(name="by-camera")
    by_camera.cameras.set([south])
    by_zone = exporter_factory(name="by-zone")
    by_zone.zones.set([gate])
    confident = exporter_factory(name="confident", min_confidence=0.8)
    exporter_factory(name="off", enabled=False)

    events = {
        "south-low": PlateEventFactory(camera=south, confidence=0.5, plate_raw="XX1"),
        "gate-hot": PlateEventFactory(camera=north, zone=gate, confidence=0.9, plate_raw="AB12CDE"),
        "north-none": PlateEventFactory(camera=north, confidence=None, plate_raw="YY2"),
    }
    plan(*events.values())

    def planned(exporter):
        return {
            name
            for name, event in events.items()
            if ExportDelivery.objects.filter(exporter=exporter, events=event).exists()
        }

    assert planned(by_camera) == {"south-low"}
    assert planned(by_zone) == {"gate-hot"}
    assert planned(confident) == {"gate-hot"}
    assert not ExportDelivery.objects.filter(exporter__name="off").exists()


def test_plan_batches_events_per_request(exporter_factory, sink):
    exporter_factory(batch_size=2)
    events = [PlateEventFactory() for _ in range(5)]
    deliveries = plan(*events)
    assert sorted(d.events.count() for d in deliveries) == [1, 2, 2]
    for delivery in deliveries:
        attempt(delivery)
    sent = sorted(e["id"] for r in sink.received for e in json.loads(r.body)["events"])
    assert sent == sorted(str(e.pk) for e in events)


def test_a_rolled_back_transaction_plans_nothing_and_queues_nothing(exporter_factory):
    exporter_factory()
    event = PlateEventFactory()
    queued = []
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            services.deliveries_plan(events=[event])
            transaction.on_commit(lambda: queued.append(True))
            raise RuntimeError("ingest failed")
    assert not ExportDelivery.objects.exists() and queued == []


def test_a_disabled_exporters_waiting_deliveries_resume_when_enabled(exporter_factory, sink):
    exporter = exporter_factory()
    [delivery] = plan(PlateEventFactory())
    services.exporter_set_enabled(exporter=exporter, enabled=False)
    assert attempt(delivery) == "skipped"
    assert services.deliveries_sweep() == 0
    services.exporter_set_enabled(exporter=exporter, enabled=True)
    assert services.deliveries_sweep() == 1
    assert attempt(delivery) == Status.DELIVERED
    assert len(sink.received) == 1


# --- Exported events --------------------------------------------------------------------------


def test_an_event_is_exported_when_all_its_deliveries_are_delivered(exporter_factory, sink):
    exporter_factory(name="a")
    exporter_factory(name="b")
    done, half, unwanted = PlateEventFactory(), PlateEventFactory(), PlateEventFactory()
    plan(done, half)
    for delivery in ExportDelivery.objects.filter(events=done):
        attempt(delivery)
    attempt(ExportDelivery.objects.filter(events=half, exporter__name="a").get())
    events = PlateEvent.objects.all()
    exported = PlateEventFilter({"exported": "true"}, queryset=events).qs
    pending = PlateEventFilter({"exported": "false"}, queryset=events).qs
    assert set(exported) == {done, unwanted}
    assert set(pending) == {half}
