"""Exporters that send watchlist hits, and the filter by watchlist: what a receiver gets when
a device posts a listed plate."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from events.reads import ReadIn
from events.services.ingest import plate_events_ingest
from exporters.models import ExportDelivery
from exporters.tests.conftest import wait_until
from watchlists.models import Hit
from watchlists.services.entries import watchlist_delete
from watchlists.tests.factories import WatchlistFactory, entry_add

INGEST = "/api/events/ingest/"


def _read(event_id: str, plate: str, **fields) -> dict:
    captured = timezone.now() - timedelta(seconds=2)
    return {"event_id": event_id, "plate": plate, "captured_at": captured.isoformat(), **fields}


@pytest.fixture
def post(device_with_key):
    """post(plate, ...) -> the stored read, as the device posts it (ingest service)."""
    device = device_with_key[0]

    def send(*plates: str, **fields):
        fields.setdefault("captured_at", timezone.now() - timedelta(seconds=5))
        return plate_events_ingest(device=device, reads=[ReadIn(plate=p, **fields) for p in plates])

    return send


@pytest.fixture
def stolen(db):
    listed = WatchlistFactory(name="Stolen", priority=5, colour="#112233")
    entry_add(listed, "AB12CDE", category="stolen_vehicle", description="Blue Golf")
    return listed


def _kinds(exporter) -> list[str]:
    return sorted(ExportDelivery.objects.filter(exporter=exporter).values_list("kind", flat=True))


# --- What reaches a receiver ---------------------------------------------------------------


def test_a_listed_plate_posted_by_a_device_reaches_the_receiver_as_a_hit(
    celery_worker, exporter_factory, sink, device_client, stolen, camera
):
    exporter_factory(name="control-room", send=["hits"], auth_type="hmac", secret="k" * 16)
    body = [_read("1", "AB12 CDE", candidates=[{"plate": "AB12CDF"}]), _read("2", "XY99ZZZ")]

    response = device_client.post(INGEST, json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content

    [request] = sink.wait_for(1)
    payload = json.loads(request.body)
    hit = Hit.objects.get()
    assert payload["kind"] == "hits" and "events" not in payload
    assert payload["exporter"] == "control-room"
    assert request.headers["X-ANPR-Signature"]
    [sent] = payload["hits"]
    assert sent["id"] == str(hit.pk) and sent["status"] == "open"
    assert sent["captured_at"] == hit.captured_at.isoformat()
    assert sent["list"] == {
        "id": stolen.pk,
        "name": "Stolen",
        "kind": "alert",
        "priority": 5,
        "colour": "#112233",
    }
    assert sent["entry"]["plate"] == "AB12CDE" and sent["entry"]["category"] == "stolen_vehicle"
    assert sent["entry"]["description"] == "Blue Golf"
    assert sent["match"] == {
        "read_plate": "AB12CDE",
        "matched_plate": "AB12CDE",
        "candidate": False,
        "cost": 0,
        "substituted": [],
    }
    # The read as reads are sent (the same representation, images as links or null).
    assert sent["read"]["id"] == str(hit.event_id) and sent["read"]["plate"] == "AB12CDE"
    assert sent["read"]["camera"]["slug"] == camera.slug and "plate_image" in sent["read"]
    assert "device" not in sent["read"]
    wait_until(
        lambda: ExportDelivery.objects.filter(status="delivered").count() == 1,
        message="the hit delivery to be recorded as delivered",
    )
    # send=["hits"]: the unlisted read and the listed read itself are not sent.
    assert list(ExportDelivery.objects.values_list("kind", flat=True)) == ["hits"]


def test_send_chooses_reads_hits_or_both(exporter_factory, post, stolen):
    reads = exporter_factory(name="reads")  # the default
    hits = exporter_factory(name="hits", send=["hits"])
    both = exporter_factory(name="both", send=["reads", "hits"])

    post("AB12CDE")
    post("XY99ZZZ")

    assert reads.send == ["reads"]
    assert _kinds(reads) == ["reads", "reads"]
    assert _kinds(hits) == ["hits"]
    assert _kinds(both) == ["hits", "reads", "reads"]


def test_a_watchlist_filter_passes_only_reads_and_hits_of_its_lists(
    exporter_factory, post, stolen, settings
):
    wanted = WatchlistFactory(name="Wanted")
    entry_add(wanted, "WA11NTD")
    filtered = exporter_factory(name="stolen-only", send=["reads", "hits"])
    filtered.watchlists.set([stolen])

    post("AB12CDE")
    post("WA11NTD")
    post("XY99ZZZ")
    # A repeat of the same car within HIT_REPEAT_SECONDS raises no new hit, but it is still
    # a read of a listed plate: the filter passes it, as the plates filter did.
    post("AB12CDE")

    deliveries = ExportDelivery.objects.filter(exporter=filtered)
    read_plates = sorted(
        deliveries.filter(kind="reads").values_list("event_links__event__plate", flat=True)
    )
    hit_lists = list(
        deliveries.filter(kind="hits").values_list("hit_links__hit__watchlist_id", flat=True)
    )
    assert read_plates == ["AB12CDE", "AB12CDE"]
    assert hit_lists == [stolen.pk]
    assert Hit.objects.count() == 2  # one on each list


def test_covert_hits_go_only_to_exporters_filtered_by_that_list(exporter_factory, post):
    covert = WatchlistFactory(name="Operation X", covert=True)
    entry_add(covert, "CO11VRT")
    everything = exporter_factory(name="everything", send=["reads", "hits"])
    chosen = exporter_factory(name="chosen", send=["hits"])
    chosen.watchlists.set([covert])

    post("CO11VRT")

    assert _kinds(everything) == ["reads"]  # the read, as every read: no hit, no list
    assert _kinds(chosen) == ["hits"]


def test_a_read_with_no_hit_costs_no_more_queries_than_before(exporter_factory, post, stolen):
    """Reads with no hit at a watched camera: the exporters' step asks its exporters and
    their filters in two queries (it was three with the cameras and zones alone)."""
    exporter_factory(send=["reads", "hits"]).watchlists.set([stolen])
    exporter_factory()
    post("XY99ZZZ")  # warm-up
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        post("XY99ZZY")
    exporter_queries = [
        q["sql"]
        for q in queries
        if "exporters_exporterconfig" in q["sql"] and "cameras_camera" not in q["sql"]
    ]
    assert len(exporter_queries) == 2, exporter_queries


def test_a_refined_read_with_no_hit_asks_no_exporter(exporter_factory, post, stolen):
    """A read refined in place was exported when it was stored: with no new hit, the
    exporters' step asks nothing (the refinement stays as cheap as before hits were sent)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from events.models import PlateEvent
    from events.services.update import plate_event_update

    exporter = exporter_factory(send=["reads", "hits"])
    [result] = post("XY99ZZY")
    event = PlateEvent.objects.select_related("camera", "device").get(pk=result.id)
    with CaptureQueriesContext(connection) as queries:
        plate_event_update(event=event, read=ReadIn(plate="XY99ZZZ", captured_at=event.captured_at))
    asked = [
        q["sql"] for q in queries if "exporters_" in q["sql"] and "cameras_camera" not in q["sql"]
    ]
    assert asked == []
    assert _kinds(exporter) == ["reads"]


# --- Reliability -----------------------------------------------------------------------------


def test_a_receiver_down_delays_a_hit_and_never_drops_it(
    celery_worker, exporter_factory, sink, post, stolen
):
    exporter_factory(send=["hits"], max_attempts=50)
    sink.stop()
    post("AB12CDE")
    delivery = ExportDelivery.objects.get()
    wait_until(
        lambda: ExportDelivery.objects.get().attempts >= 2,
        message="two failed attempts while the receiver is down",
    )
    delivery.refresh_from_db()
    assert delivery.status in ("pending", "delivering") and "Connection failed" in (
        delivery.last_error
    )

    sink.start()
    from exporters import services

    def delivered():
        services.deliveries_sweep()  # what beat does
        return ExportDelivery.objects.get().status == "delivered"

    wait_until(delivered, message="the hit to be delivered once the receiver is back")
    bodies = [json.loads(r.body) for r in sink.received]
    assert {b["hits"][0]["id"] for b in bodies} == {str(Hit.objects.get().pk)}


def test_a_hit_of_a_refined_read_is_sent_once_the_plate_becomes_listed(
    exporter_factory, post, stolen
):
    """A read refined in place (Frigate) that becomes a listed plate is sent as a hit, and
    not a second time as a read."""
    from events.models import PlateEvent
    from events.services.update import plate_event_update

    exporter = exporter_factory(send=["reads", "hits"])
    [result] = post("AB12CDF")
    event = PlateEvent.objects.select_related("camera", "device").get(pk=result.id)
    plate_event_update(event=event, read=ReadIn(plate="AB12CDE", captured_at=event.captured_at))

    assert _kinds(exporter) == ["hits", "reads"]


# --- The filter outlives no list -------------------------------------------------------------


def test_deleting_the_last_list_an_exporter_is_filtered_by_disables_it(exporter_factory, stolen):
    other = WatchlistFactory(name="Other")
    only = exporter_factory(name="only")
    only.watchlists.set([stolen])
    two = exporter_factory(name="two")
    two.watchlists.set([stolen, other])

    watchlist_delete(watchlist=stolen)

    only.refresh_from_db()
    two.refresh_from_db()
    assert only.enabled is False and "'Stolen' was deleted" in only.last_error
    assert two.enabled is True and list(two.watchlists.all()) == [other]


def test_deleting_all_of_an_exporters_lists_at_once_disables_it(exporter_factory, stolen):
    """The admin's "delete selected" removes the lists in one go: each list's check must not
    count the other lists going with it."""
    from watchlists.models import Watchlist

    other = WatchlistFactory(name="Other")
    both = exporter_factory(name="both")
    both.watchlists.set([stolen, other])

    Watchlist.objects.filter(pk__in=[stolen.pk, other.pk]).delete()

    both.refresh_from_db()
    assert both.enabled is False and "was deleted" in both.last_error


def test_an_exporter_disabled_by_a_covert_lists_deletion_does_not_name_it(exporter_factory):
    covert = WatchlistFactory(name="Operation X", covert=True)
    exporter = exporter_factory()
    exporter.watchlists.set([covert])

    watchlist_delete(watchlist=covert)

    exporter.refresh_from_db()
    assert exporter.enabled is False and "covert list was deleted" in exporter.last_error
    assert "Operation X" not in exporter.last_error
