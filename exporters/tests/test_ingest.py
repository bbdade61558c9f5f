"""The whole way out: a device posts reads, the ingest transaction plans the deliveries and a
real worker sends them to a real receiver."""

import json
from datetime import timedelta

from django.utils import timezone

from exporters.models import ExportDelivery
from exporters.tests.conftest import wait_until
from watchlists.tests.factories import WatchlistFactory, entry_add

URL = "/api/events/ingest/"


def _read(event_id: str, plate: str) -> dict:
    captured = timezone.now() - timedelta(seconds=2)
    return {"event_id": event_id, "plate": plate, "captured_at": captured.isoformat()}


def test_posted_reads_reach_the_receiver_once_each(
    celery_worker, exporter_factory, sink, device_client
):
    hotlist = WatchlistFactory(name="hotlist", match_strategy="exact", match_candidates=False)
    entry_add(hotlist, "AB12CDE")
    entry_add(hotlist, "CD34EFG")
    exporter_factory(name="hotlist").watchlists.set([hotlist])
    exporter_factory(name="everything", batch_size=10)
    body = [_read("1", "AB12 CDE"), _read("2", "XY99ZZZ"), _read("3", "CD34EFG")]

    response = device_client.post(URL, json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    # A device retrying the same batch adds no event and no delivery.
    device_client.post(URL, json.dumps(body), content_type="application/json")

    assert ExportDelivery.objects.filter(exporter__name="hotlist").count() == 2
    assert ExportDelivery.objects.filter(exporter__name="everything").count() == 1
    wait_until(
        lambda: ExportDelivery.objects.filter(status="delivered").count() == 3,
        message=lambda: f"3 delivered: {list(ExportDelivery.objects.values('status', 'attempts'))}",
    )
    received = sink.wait_for(3)
    plates = sorted(e["plate"] for r in received for e in json.loads(r.body)["events"])
    assert plates == ["AB12CDE", "AB12CDE", "CD34EFG", "CD34EFG", "XY99ZZZ"]
    assert len(sink.received) == 3
