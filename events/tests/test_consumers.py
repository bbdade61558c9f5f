"""The live stream /ws/events/ on the real ASGI application, on whichever channel layer the
settings choose (in-memory embedded, channels-redis with REDIS_URL).

Each test runs one coroutine with async_to_sync, so the consumer, the channel layer and the
test share one event loop, and database work from inside it runs in the test's thread.
"""

import time

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import Client
from django.utils import timezone

from anpr.asgi import application
from cameras.services import user_token_issue, user_token_revoke
from events.broadcast import broadcast_events
from events.consumers import CLOSE_BAD_REQUEST, CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED
from events.models import PlateEvent

# Broadcasts happen on commit, so these tests need real transactions.
pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1")


def make_event(*, camera, plate="AB12CDE", **fields) -> PlateEvent:
    return PlateEvent.objects.create(
        camera=camera,
        idempotency_key=fields.pop("idempotency_key", f"{plate}-{time.monotonic_ns()}"),
        plate_raw=plate,
        plate=plate,
        plate_key=plate,
        captured_at=fields.pop("captured_at", timezone.now()),
        **fields,
    )


def run(scenario):
    """Run an async test body to completion in one event loop."""
    return async_to_sync(scenario)()


def session_headers(user) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    return [ORIGIN, (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]


async def open_stream(headers, query: str = "") -> WebsocketCommunicator:
    path = "/ws/events/" + (f"?{query}" if query else "")
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


async def ingest_committed(**fields):
    """Store one event and broadcast it on commit, as the ingest service does."""

    def write():
        with transaction.atomic():
            event = make_event(**fields)
            transaction.on_commit(lambda: broadcast_events([event]))
        return event

    return await database_sync_to_async(write)()


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


# --- Malformed input --------------------------------------------------------------------------


def test_malformed_messages_get_an_error_and_the_connection_stays_usable(viewer):
    headers = session_headers(viewer)

    async def scenario():
        communicator = await open_stream(headers)
        cases = [
            ("{not json", "invalid_json", None),
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
