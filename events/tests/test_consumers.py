"""The live stream /ws/events/ on the real ASGI application, on whichever channel layer the
settings choose (in-memory embedded, channels-redis with REDIS_URL).

Each test runs one coroutine with async_to_sync, so the consumer, the channel layer and the
test share one event loop, and database work from inside it runs in the test's thread.
"""

import asyncio
import copy
import json
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from channels_redis.core import RedisChannelLayer
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from anpr.asgi import application
from anpr.channel_layer_adapter import group_member_count
from cameras.services import device_create, user_token_issue, user_token_revoke
from cameras.tests.factories import CameraFactory, ZoneFactory
from conftest import require_service
from events import broadcast
from events.broadcast import EVENTS_GROUP, NOBODY_LISTENING_RECHECK
from events.consumers import (
    CLOSE_BAD_REQUEST,
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHENTICATED,
    EventStreamConsumer,
    ProcessFanOut,
)
from events.models import PlateEvent
from events.reads import ImageIn, ReadIn
from events.services.ingest import plate_events_ingest
from events.services.update import plate_event_update
from events.tests.images import image_bytes

# Broadcasts happen on commit, so these tests need real transactions.
pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1")
HOST = (b"host", b"127.0.0.1")  # the site's own origin is its Host with its scheme


def run(scenario):
    """Run an async test body to completion in one event loop."""
    return async_to_sync(scenario)()


def session_headers(user) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    return [ORIGIN, (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]


async def open_stream(headers, query: str = "") -> WebsocketCommunicator:
    path = "/ws/events/" + (f"?{query}" if query else "")
    if not any(name == b"host" for name, _ in headers):
        headers = [HOST, *headers]
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


async def closed_with(communicator) -> int:
    message = await communicator.receive_output(timeout=5)
    assert message["type"] == "websocket.close", message
    return message["code"]


async def alive(communicator) -> bool:
    """The connection answers a ping (it is open and past any earlier bad message)."""
    await communicator.send_json_to({"type": "ping"})
    return await communicator.receive_json_from(timeout=5) == {"type": "pong"}


# --- Who may subscribe ------------------------------------------------------------------------


def test_anonymous_is_closed_with_4401():
    async def scenario():
        communicator = await open_stream([ORIGIN])
        assert await closed_with(communicator) == CLOSE_UNAUTHENTICATED

    run(scenario)


def test_user_token_subscribes_and_a_revoked_one_is_closed_with_4401(viewer):
    issued = user_token_issue(user=viewer, name="script")

    token = issued.key

    async def scenario():
        communicator = await open_stream([ORIGIN, (b"authorization", f"Bearer {token}".encode())])
        assert await alive(communicator)
        await communicator.disconnect()
        query_token = await open_stream([ORIGIN], f"token={token}")
        assert await alive(query_token)
        await query_token.disconnect()

    run(scenario)
    user_token_revoke(token=issued.record)

    async def refused():
        communicator = await open_stream(
            [ORIGIN, (b"authorization", f"Bearer {issued.key}".encode())]
        )
        assert await closed_with(communicator) == CLOSE_UNAUTHENTICATED

    run(refused)


def test_device_key_cannot_subscribe(device_with_key, viewer):
    _, key = device_with_key

    async def scenario():
        for headers in (
            [ORIGIN, (b"authorization", f"Bearer {key}".encode())],
            [ORIGIN, (b"authorization", f"Token {key}".encode())],
            [ORIGIN, (b"x-api-key", key.encode())],
        ):
            communicator = await open_stream(headers)
            assert await closed_with(communicator) == CLOSE_UNAUTHENTICATED

    run(scenario)


def test_a_revoked_token_beside_a_good_session_is_refused(viewer):
    issued = user_token_issue(user=viewer, name="old")
    user_token_revoke(token=issued.record)
    headers = session_headers(viewer) + [(b"authorization", f"Bearer {issued.key}".encode())]

    async def scenario():
        assert await closed_with(await open_stream(headers)) == CLOSE_UNAUTHENTICATED

    run(scenario)


def test_an_open_stream_is_closed_when_its_token_session_or_role_goes(viewer, monkeypatch):
    monkeypatch.setattr(EventStreamConsumer, "recheck_every", 0.1)
    issued = user_token_issue(user=viewer, name="script")
    browser = Client()
    browser.force_login(viewer)
    cookie = (b"cookie", f"sessionid={browser.cookies['sessionid'].value}".encode())

    async def scenario():
        by_token = await open_stream([ORIGIN, (b"authorization", f"Bearer {issued.key}".encode())])
        by_session = await open_stream([ORIGIN, cookie])
        await asyncio.sleep(0.3)
        assert await alive(by_token) and await alive(by_session)  # still good: still open

        await database_sync_to_async(user_token_revoke)(token=issued.record)
        assert await closed_with(by_token) == CLOSE_UNAUTHENTICATED
        await database_sync_to_async(browser.logout)()
        assert await closed_with(by_session) == CLOSE_UNAUTHENTICATED

    run(scenario)

    browser.force_login(viewer)
    cookie = (b"cookie", f"sessionid={browser.cookies['sessionid'].value}".encode())

    async def role_taken_away():
        communicator = await open_stream([ORIGIN, cookie])
        assert await alive(communicator)
        await database_sync_to_async(viewer.groups.clear)()
        assert await closed_with(communicator) == CLOSE_FORBIDDEN

    run(role_taken_away)


def test_signed_in_user_without_a_role_is_closed_with_4403(django_user_model):
    nobody = django_user_model.objects.create_user(username="norole", password="x-for-tests")
    headers = session_headers(nobody)

    async def scenario():
        assert await closed_with(await open_stream(headers)) == CLOSE_FORBIDDEN

    run(scenario)


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_viewers_and_operators_subscribe_with_their_session(role, request):
    user = request.getfixturevalue(role)
    assert user.groups.filter(name=Group.objects.get(name=role).name).exists()
    headers = session_headers(user)

    async def scenario():
        communicator = await open_stream(headers)
        assert await alive(communicator)
        await communicator.disconnect()

    run(scenario)


def session_cookie(user) -> tuple[bytes, bytes]:
    return session_headers(user)[1]


def handshake_accepted(headers) -> bool:
    async def scenario():
        communicator = WebsocketCommunicator(application, "/ws/events/", headers=headers)
        connected, _ = await communicator.connect(timeout=5)
        if connected:
            await communicator.disconnect()
        return connected

    return run(scenario)


@pytest.mark.parametrize(
    "origin",
    [
        b"http://127.0.0.1:9999",  # another port
        b"https://127.0.0.1",  # another scheme
        b"http://localhost:3000",  # another host (an allowed one)
        b"https://evil.example.net",
        b"null",
        None,
    ],
)
def test_a_session_from_anywhere_but_the_sites_own_origin_is_refused(viewer, origin):
    cookie = session_cookie(viewer)
    headers = [(b"host", b"127.0.0.1:8000"), cookie]
    assert handshake_accepted([*headers, (b"origin", b"http://127.0.0.1:8000")])
    refused = [*headers, (b"origin", origin)] if origin else headers
    assert not handshake_accepted(refused)


def test_a_session_behind_a_tls_proxy_and_from_trusted_origins_subscribes(viewer, settings):
    settings.ALLOWED_HOSTS = ["anpr.example.org"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.CSRF_TRUSTED_ORIGINS = ["https://map.example.org", "https://*.example.net"]
    cookie = session_cookie(viewer)
    proxied = [(b"host", b"anpr.example.org"), (b"x-forwarded-proto", b"https"), cookie]
    assert handshake_accepted([*proxied, (b"origin", b"https://anpr.example.org")])
    assert not handshake_accepted([*proxied, (b"origin", b"http://anpr.example.org")])
    for trusted in (b"https://map.example.org", b"https://live.example.net"):
        assert handshake_accepted([*proxied, (b"origin", trusted)])
    for untrusted in (b"http://map.example.org", b"https://map.example.org:8443"):
        assert not handshake_accepted([*proxied, (b"origin", untrusted)])
    # A Host outside ALLOWED_HOSTS is no origin of the site, whatever Origin says.
    forged = [(b"host", b"evil.example.com"), (b"origin", b"http://evil.example.com"), cookie]
    assert not handshake_accepted(forged)


def test_a_token_subscribes_without_an_origin_or_from_another_one(viewer):
    token = user_token_issue(user=viewer, name="script").key
    bearer = (b"authorization", f"Bearer {token}".encode())
    for origin in ([], [(b"origin", b"http://localhost:3000")]):
        assert handshake_accepted([*origin, bearer])

    async def scenario():
        communicator = await open_stream([], f"token={token}")  # no Origin, token in the query
        assert await alive(communicator)
        await communicator.disconnect()

    run(scenario)


# --- Malformed input --------------------------------------------------------------------------


def test_malformed_messages_get_an_error_and_the_connection_stays_usable(viewer):
    headers = session_headers(viewer)

    async def scenario():
        communicator = await open_stream(headers)
        cases = [
            ("{not json", "invalid_json", None),
            ("[" * 5000 + "]" * 5000, "invalid_json", None),  # deeper than Python's parser
            ('{"type": "filter", "cameras": ' + "[" * 100 + "]" * 100 + "}", "invalid_json", None),
            ("[1, 2]", "invalid_message", "type"),
            ('{"no_type": 1}', "invalid_message", "type"),
            ('{"type": "subscribe_all"}', "unknown_type", "type"),
            ('{"type": "filter", "cameras": "one"}', "invalid_filter", "cameras"),
            ('{"type": "filter", "zones": [true]}', "invalid_filter", "zones"),
            ('{"type": "filter", "min_confidence": 7}', "invalid_filter", "min_confidence"),
        ]
        for text, code, field in cases:
            await communicator.send_to(text_data=text)
            reply = await communicator.receive_json_from(timeout=5)
            assert reply["type"] == "error" and reply["code"] == code, (text, reply)
            if field:
                assert field in reply["errors"], (text, reply)
            assert await alive(communicator)
        await communicator.send_to(bytes_data=b"\x00")
        assert (await communicator.receive_json_from(timeout=5))["code"] == "invalid_message"
        assert await alive(communicator)
        await communicator.disconnect()

    run(scenario)


def test_a_bad_filter_in_the_query_string_is_named_then_closed_with_4400(viewer):
    headers = session_headers(viewer)

    async def scenario():
        communicator = await open_stream(headers, "cameras=1,x&min_confidence=high")
        reply = await communicator.receive_json_from(timeout=5)
        assert reply["type"] == "error"
        assert set(reply["errors"]) == {"cameras", "min_confidence"}
        assert await closed_with(communicator) == CLOSE_BAD_REQUEST

    run(scenario)


# --- What is sent, and when -------------------------------------------------------------------


@pytest.fixture
def site(viewer):
    """Two cameras (one with a zone), a device posting for both, and a viewer's headers."""
    gate, yard = CameraFactory(slug="gate"), CameraFactory(slug="yard")
    zone = ZoneFactory(camera=gate, name="lane")
    device, _ = device_create(name="edge-1", cameras=[gate, yard])
    return {
        "gate": gate,
        "yard": yard,
        "zone": zone,
        "device": device,
        "headers": session_headers(viewer),
        "viewer": viewer,
    }


def read(camera, plate: str, **extra) -> ReadIn:
    return ReadIn(
        plate=plate,
        captured_at=timezone.now().isoformat(),
        camera=camera.slug,
        event_id=uuid.uuid4().hex,
        **extra,
    )


async def ingest(device, *reads: ReadIn):
    return await database_sync_to_async(plate_events_ingest)(device=device, reads=list(reads))


async def next_frame(communicator) -> dict:
    return await communicator.receive_json_from(timeout=5)


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
                    await _receive_briefly(layer, stalled)
                except TimeoutError:
                    break
                held += 1
            assert held == 5  # the capacity; the 7 later messages were dropped, not queued
        finally:
            await layer.group_discard(EVENTS_GROUP, stalled)
            await live.disconnect()

    run(scenario)


async def _receive_briefly(layer, channel, timeout: float = 0.5):
    return await asyncio.wait_for(layer.receive(channel), timeout=timeout)


@pytest.fixture
def layer_elsewhere(settings, redis_url):
    """This process on a Redis channel layer of its own (a fresh key prefix), and a maker of
    layer objects standing for daphne processes elsewhere, joined via the same Redis."""
    prefix = f"anpr-test-{uuid.uuid4().hex[:8]}"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url], "prefix": prefix, "capacity": 100, "expiry": 30},
        }
    }
    return lambda: RedisChannelLayer(hosts=[redis_url], prefix=prefix)


@pytest.mark.redis
def test_over_redis_an_event_reaches_clients_of_every_web_process(site, layer_elsewhere):

    async def scenario():
        first, second = await open_stream(site["headers"]), await open_stream(site["headers"])
        # A layer object of its own stands for a daphne process elsewhere, joined via Redis.
        elsewhere = layer_elsewhere()
        channel = await elsewhere.new_channel()
        await elsewhere.group_add(EVENTS_GROUP, channel)
        try:
            await ingest(site["device"], read(site["gate"], "SHARED1"))
            for communicator in (first, second):
                assert (await next_frame(communicator))["event"]["plate"] == "SHARED1"
            message = await _receive_briefly(elsewhere, channel)
            assert message["type"] == "events.created"
            assert '"SHARED1"' in message["frames"][0]["text"]
        finally:
            await elsewhere.group_discard(EVENTS_GROUP, channel)
            await elsewhere.close_pools()
            await first.disconnect()
            await second.disconnect()

    run(scenario)


@pytest.mark.redis
def test_over_redis_a_web_process_is_one_group_member_however_many_clients_it_serves(
    site, layer_elsewhere
):
    # A stored read costs one layer message per web process, not one per open map: the
    # process's clients share one membership (ProcessFanOut), and leave it with the last one.
    async def scenario():
        layer = get_channel_layer()
        streams = [await open_stream(site["headers"]) for _ in range(3)]
        try:
            assert await group_member_count(layer=layer, group=EVENTS_GROUP) == 1
            # Nor does a client receive from the layer itself (channel_layer_alias = None).
            consumers = ProcessFanOut.current().consumers
            assert [consumer.channel_layer for consumer in consumers] == [None] * 3
            await ingest(site["device"], read(site["gate"], "MANY1"))
            for communicator in streams:
                assert (await next_frame(communicator))["event"]["plate"] == "MANY1"
        finally:
            for communicator in streams:
                await communicator.disconnect()
        assert await group_member_count(layer=layer, group=EVENTS_GROUP) == 0

    run(scenario)


@pytest.mark.redis
def test_over_redis_reads_stored_within_the_send_interval_share_one_layer_message(
    site, settings, layer_elsewhere, monkeypatch
):
    # A group_send costs the same for one frame or a hundred: a process sends at most once per
    # LIVE_SEND_INTERVAL; the first read goes at once, the ones stored meanwhile go together.
    settings.LIVE_SEND_INTERVAL = 0.5
    # A sender of its own: one that earlier tests left waiting out a pause would hold FIRST1.
    monkeypatch.setattr(broadcast, "_sender_loop", broadcast._SenderLoop())

    async def scenario():
        elsewhere = layer_elsewhere()
        channel = await elsewhere.new_channel()
        await elsewhere.group_add(EVENTS_GROUP, channel)
        try:
            for plate in ("FIRST1", "NEXT1", "NEXT2", "NEXT3"):
                await ingest(site["device"], read(site["gate"], plate))
            messages = []
            while sum(len(plates) for plates in messages) < 4:
                message = await _receive_briefly(elsewhere, channel, timeout=2)
                assert message["type"] == "events.created"
                messages.append(
                    [json.loads(f["text"])["event"]["plate"] for f in message["frames"]]
                )
            # (FIRST1 waits too if this process sent something within the last interval.)
            assert messages in (
                [["FIRST1"], ["NEXT1", "NEXT2", "NEXT3"]],
                [["FIRST1", "NEXT1", "NEXT2", "NEXT3"]],
            )
        finally:
            await elsewhere.group_discard(EVENTS_GROUP, channel)
            await elsewhere.close_pools()

    run(scenario)


@pytest.mark.redis
def test_over_redis_no_frame_is_built_while_no_process_listens_and_a_joiner_gets_the_next(
    site, layer_elsewhere, monkeypatch
):
    # With no live map open anywhere, a stored read costs no frame and no send (about a tenth
    # of a single-read ingest's CPU). A process that joins later gets the reads stored after
    # it joined; those stored before are in the list a map loads when it connects.
    looks, built = [], []
    anyone_listening, frame = broadcast._anyone_listening, broadcast._frame

    async def recorded_look():
        looks.append(await anyone_listening())
        return looks[-1]

    def recorded_frame(event, *args):
        built.append(event.plate)
        return frame(event, *args)

    monkeypatch.setattr(broadcast, "_anyone_listening", recorded_look)
    monkeypatch.setattr(broadcast, "_frame", recorded_frame)
    monkeypatch.setattr(broadcast, "_sender_loop", broadcast._SenderLoop())  # no earlier looks

    async def scenario():
        await ingest(site["device"], read(site["gate"], "ALONE1"))
        for _ in range(100):  # until the sender has looked (it may be waiting out a recheck)
            if looks:
                break
            await asyncio.sleep(0.02)
        assert looks == [False] and built == []
        elsewhere = layer_elsewhere()
        channel = await elsewhere.new_channel()
        await elsewhere.group_add(EVENTS_GROUP, channel)
        try:
            await ingest(site["device"], read(site["gate"], "JOINED1"))
            message = await asyncio.wait_for(
                elsewhere.receive(channel), timeout=NOBODY_LISTENING_RECHECK + 2
            )
            assert [json.loads(f["text"])["event"]["plate"] for f in message["frames"]] == [
                "JOINED1"
            ]
            assert looks == [False, True] and built == ["JOINED1"]
        finally:
            await elsewhere.group_discard(EVENTS_GROUP, channel)
            await elsewhere.close_pools()

    run(scenario)


@pytest.mark.redis
def test_over_redis_a_quiet_stream_stays_open_and_delivers(site, settings, redis_url):
    # redis-py 8 ends a read after 5 s, the length of channels-redis's blocking pop: a stream
    # quiet that long lost its consumers (closed 1011) until the settings gave a longer one.
    if "RedisChannelLayer" not in settings.CHANNEL_LAYERS["default"]["BACKEND"]:
        require_service("Redis channel layer", "these settings have no REDIS_URL")

    async def scenario():
        communicator = await open_stream(site["headers"])
        assert await communicator.receive_nothing(timeout=6.5)  # no close, no error
        assert await alive(communicator)
        await ingest(site["device"], read(site["gate"], "QUIET1"))
        assert (await next_frame(communicator))["event"]["plate"] == "QUIET1"
        await communicator.disconnect()

    run(scenario)


def test_a_lost_group_membership_is_renewed(site, monkeypatch):
    # Channel layers end old memberships (group_expiry) and those of a channel that let a
    # message expire; the process's membership outlives both, so it renews itself.
    monkeypatch.setattr(ProcessFanOut, "renew_every", 0.05)

    async def scenario():
        communicator = await open_stream(site["headers"])
        fan_out = ProcessFanOut.current()
        await get_channel_layer().group_discard(EVENTS_GROUP, fan_out.channel)  # as expiry does
        await asyncio.sleep(0.3)
        await ingest(site["device"], read(site["gate"], "BACK1"))
        assert (await next_frame(communicator))["event"]["plate"] == "BACK1"
        await communicator.disconnect()

    run(scenario)
