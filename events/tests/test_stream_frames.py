"""The live stream /ws/events/ on the real ASGI application, on whichever channel layer the
settings choose (in-memory embedded, channels-redis with REDIS_URL): what is sent, and
when.

Each test runs one coroutine with async_to_sync, so the consumer, the channel layer and the
test share one event loop, and database work from inside it runs in the test's thread.
"""

import copy

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction
from rest_framework.test import APIClient

from events import broadcast
from events.broadcast import EVENTS_GROUP
from events.models import PlateEvent
from events.reads import ImageIn
from events.services.ingest import plate_events_ingest
from events.services.update import plate_event_update
from events.tests.images import image_bytes

from .stream import ingest, next_frame, open_stream, read, receive_briefly, run

# Broadcasts happen on commit, so these tests need real transactions.
pytestmark = pytest.mark.django_db(transaction=True)


def test_a_committed_read_is_sent_once_in_the_shape_of_the_rest_api(site):
    api = APIClient()
    api.force_authenticate(site["viewer"])

    async def scenario():
        communicator = await open_stream(site["headers"])
        [result] = await ingest(
            site["device"], read(site["gate"], "AB12 CDE", confidence=0.91, zone="lane")
        )
        frame = await next_frame(communicator)
        assert frame["type"] == "event.created"
        rest = await database_sync_to_async(lambda: api.get(f"/api/events/{result.id}/").json())()
        assert frame["event"] == rest
        assert frame["event"]["plate"] == "AB12CDE" and frame["event"]["zone_name"] == "lane"
        assert await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()

    run(scenario)


def test_a_read_with_images_a_zone_and_a_local_time_zone_is_sent_in_the_rest_shape(site, settings):
    # The frame is built from the stored row, not by the REST serializer: held equal here
    # where it differs most (image URLs, zone name, datetimes with an offset, the Frigate update).
    settings.TIME_ZONE = "Europe/Amsterdam"
    api = APIClient()
    api.force_authenticate(site["viewer"])

    async def rest(event_id) -> dict:
        """GET /api/events/{id}/, with its image URLs relative to the site as frames send them."""
        body = await database_sync_to_async(lambda: api.get(f"/api/events/{event_id}/").json())()
        for name in ("plate_image_url", "frame_image_url"):
            body[name] = body[name] and body[name].removeprefix("http://testserver")
        return body

    async def scenario():
        communicator = await open_stream(site["headers"])
        [result] = await ingest(
            site["device"],
            read(
                site["gate"],
                "IMG1",
                zone="lane",
                confidence=0.8,
                plate_image=ImageIn(image_bytes("PNG"), "crop.png"),
                frame_image=ImageIn(image_bytes("JPEG"), "frame.jpg"),
                metadata={"lane": 2, "tags": ["a", None]},
            ),
        )
        frame = await next_frame(communicator)
        assert frame["event"] == await rest(result.id)
        assert frame["event"]["plate_image_url"] == f"/api/events/{result.id}/images/plate/"
        assert frame["event"]["captured_at"].endswith("+01:00")

        event = await database_sync_to_async(PlateEvent.objects.select_related("camera").get)(
            pk=result.id
        )
        await database_sync_to_async(plate_event_update)(
            event=event, read=read(site["gate"], "IMG2", confidence=0.9)
        )
        updated = await next_frame(communicator)
        assert updated["type"] == "event.updated"
        assert updated["event"] == await rest(result.id)
        await communicator.disconnect()

    run(scenario)


def test_nothing_is_sent_before_commit_and_nothing_after_a_rollback(site):
    async def scenario():
        communicator = await open_stream(site["headers"])

        def ingest_inside_a_transaction():
            with transaction.atomic():
                plate_events_ingest(device=site["device"], reads=[read(site["gate"], "WAIT1")])
                # Stored but not committed: no client may hear of it yet.
                assert async_to_sync(communicator.receive_nothing)(timeout=0.3)

        await database_sync_to_async(ingest_inside_a_transaction)()
        assert (await next_frame(communicator))["event"]["plate"] == "WAIT1"

        def ingest_then_fail():
            with transaction.atomic():
                plate_events_ingest(device=site["device"], reads=[read(site["gate"], "GONE1")])
                raise RuntimeError("the rest of the request failed")

        with pytest.raises(RuntimeError):
            await database_sync_to_async(ingest_then_fail)()
        assert await communicator.receive_nothing(timeout=0.5)
        assert not await database_sync_to_async(PlateEvent.objects.filter(plate="GONE1").exists)()
        await communicator.disconnect()

    run(scenario)


def test_a_batch_sends_each_stored_read_once_in_order(site):
    async def scenario():
        communicator = await open_stream(site["headers"])
        retry = read(site["gate"], "DUP1")
        await ingest(site["device"], retry)
        assert (await next_frame(communicator))["event"]["plate"] == "DUP1"
        results = await ingest(
            site["device"],
            read(site["gate"], "BATCH1"),
            read(site["yard"], "BATCH2"),
            read(site["gate"], "BAD", confidence=7),  # rejected: not stored, not sent
            retry,  # a retry: already stored and sent
            read(site["yard"], "BATCH3"),
        )
        assert [r.status for r in results] == [
            "created",
            "created",
            "rejected",
            "duplicate",
            "created",
        ]
        plates = [(await next_frame(communicator))["event"]["plate"] for _ in range(3)]
        assert plates == ["BATCH1", "BATCH2", "BATCH3"]
        assert await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()

    run(scenario)


def test_an_event_updated_in_place_is_sent_as_an_update_of_the_same_id(site):
    async def scenario():
        communicator = await open_stream(site["headers"])
        [result] = await ingest(site["device"], read(site["gate"], "FR1GATE", confidence=0.6))
        created = await next_frame(communicator)
        event = await database_sync_to_async(PlateEvent.objects.select_related("camera").get)(
            pk=result.id
        )
        await database_sync_to_async(plate_event_update)(
            event=event, read=read(site["gate"], "FR1GATE9", confidence=0.95)
        )
        updated = await next_frame(communicator)
        assert updated["type"] == "event.updated"
        assert updated["event"]["id"] == created["event"]["id"] == str(result.id)
        assert (updated["event"]["plate"], updated["event"]["confidence"]) == ("FR1GATE9", 0.95)
        assert await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()

    run(scenario)


def test_events_handed_over_without_their_camera_and_zone_are_sent_whole(site):
    # Frames may be built on the sender's thread, where the database is off limits: what
    # they name is loaded before the hand-over.
    [result] = async_to_sync(ingest)(site["device"], read(site["gate"], "LOAD1", zone="lane"))
    bare = PlateEvent.objects.get(pk=result.id)  # camera and zone not loaded

    async def scenario():
        communicator = await open_stream(site["headers"])
        await database_sync_to_async(broadcast.broadcast_events)([bare])
        event = (await next_frame(communicator))["event"]
        assert (event["plate"], event["camera_slug"], event["zone_name"]) == (
            "LOAD1",
            "gate",
            "lane",
        )
        await communicator.disconnect()

    run(scenario)


def test_an_event_whose_frame_fails_is_left_out_and_the_others_are_sent(site, monkeypatch):
    frame = broadcast._frame

    def failing_for_bad1(event, *args):
        if event.plate == "BAD1":
            raise ValueError("cannot render")
        return frame(event, *args)

    monkeypatch.setattr(broadcast, "_frame", failing_for_bad1)

    async def scenario():
        communicator = await open_stream(site["headers"])
        reads = [read(site["gate"], plate) for plate in ("GOOD1", "BAD1", "GOOD2")]
        await ingest(site["device"], *reads)
        plates = [(await next_frame(communicator))["event"]["plate"] for _ in range(2)]
        assert plates == ["GOOD1", "GOOD2"]
        assert await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()

    run(scenario)


def test_filters_at_connect_and_changed_by_message(site):
    gate, yard, zone = site["gate"], site["yard"], site["zone"]

    async def scenario():
        communicator = await open_stream(site["headers"], f"cameras={gate.pk}")
        await ingest(site["device"], read(yard, "YARD1"), read(gate, "GATE1"))
        assert (await next_frame(communicator))["event"]["plate"] == "GATE1"
        assert await communicator.receive_nothing(timeout=0.3)

        await communicator.send_json_to({"type": "filter", "cameras": [yard.pk]})
        assert await next_frame(communicator) == {
            "type": "filter",
            "cameras": [yard.pk],
            "zones": [],
            "min_confidence": None,
        }
        await ingest(site["device"], read(gate, "GATE2"), read(yard, "YARD2"))
        assert (await next_frame(communicator))["event"]["plate"] == "YARD2"
        assert await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()

        picky = await open_stream(site["headers"], f"zones={zone.pk}&min_confidence=0.8")
        await ingest(
            site["device"],
            read(gate, "LOW1", zone="lane", confidence=0.5),
            read(gate, "NOZONE1", confidence=0.95),
            read(gate, "UNSURE1", zone="lane"),  # no confidence: below any minimum
            read(gate, "GOOD1", zone="lane", confidence=0.9),
        )
        assert (await next_frame(picky))["event"]["plate"] == "GOOD1"
        assert await picky.receive_nothing(timeout=0.3)
        await picky.disconnect()

    run(scenario)


def test_a_stalled_client_neither_blocks_ingest_nor_holds_more_than_its_capacity(site, settings):
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"]["CONFIG"]["capacity"] = 5
    settings.CHANNEL_LAYERS = layers  # channels rebuilds its layers on this change

    async def scenario():
        layer = get_channel_layer()
        stalled = await layer.new_channel()  # joined, never read: a client that stopped reading
        await layer.group_add(EVENTS_GROUP, stalled)
        live = await open_stream(site["headers"])
        try:
            for number in range(12):
                await ingest(site["device"], read(site["gate"], f"FLOOD{number}"))
                # The reading client still gets every read, however full the stalled one is.
                assert (await next_frame(live))["event"]["plate"] == f"FLOOD{number}"
            held = 0
            while True:
                try:
                    await receive_briefly(layer, stalled)
                except TimeoutError:
                    break
                held += 1
            assert held == 5  # the capacity; the 7 later messages were dropped, not queued
        finally:
            await layer.group_discard(EVENTS_GROUP, stalled)
            await live.disconnect()

    run(scenario)
