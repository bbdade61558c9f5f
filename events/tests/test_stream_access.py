"""The live stream /ws/events/ on the real ASGI application, on whichever channel layer the
settings choose (in-memory embedded, channels-redis with REDIS_URL): who may subscribe, and
malformed input.

Each test runs one coroutine with async_to_sync, so the consumer, the channel layer and the
test share one event loop, and database work from inside it runs in the test's thread.
"""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group
from django.test import Client

from anpr.asgi import application
from cameras.services import user_token_issue, user_token_revoke
from events.consumers import (
    CLOSE_BAD_REQUEST,
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHENTICATED,
    EventStreamConsumer,
)

from .stream import (
    ORIGIN,
    alive,
    closed_with,
    open_stream,
    run,
    session_headers,
)

# Broadcasts happen on commit, so these tests need real transactions.
pytestmark = pytest.mark.django_db(transaction=True)


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
