"""Hits on the live stream /ws/events/ (the real ASGI application, on whichever channel layer
the settings choose): who receives a `hit` frame when a device posts a listed plate, in what
shape, and the stream's camera filter."""

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.contrib.auth.models import Group, Permission
from rest_framework.test import APIClient

from cameras.services import device_create
from cameras.tests.factories import CameraFactory
from events.tests.stream import ingest, next_frame, open_stream, read, run, session_headers
from watchlists.api.serializers import HitSerializer

from .factories import WatchlistFactory, entry_add

# Broadcasts happen on commit, so these tests need real transactions.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def gates(db):
    north, south = CameraFactory(slug="north"), CameraFactory(slug="south")
    device, _ = device_create(name="gates", cameras=[north, south])
    return north, south, device


@pytest.fixture
def reads_only(django_user_model):
    """Sees reads (events.view_plateevent) but not hits."""
    group = Group.objects.create(name="reads-only")
    group.permissions.add(Permission.objects.get(codename="view_plateevent"))
    user = django_user_model.objects.create_user(username="reads-only", password="x")
    user.groups.add(group)
    return user


async def frames_until_quiet(communicator, timeout=0.5) -> list[dict]:
    """Every frame received until none comes for `timeout` seconds."""
    frames = []
    while not await communicator.receive_nothing(timeout=timeout):
        frames.append(await next_frame(communicator))
    return frames


def hit_frames(frames):
    return [f for f in frames if f["type"] == "hit"]


def test_a_viewer_gets_a_hit_frame_in_the_api_shape_and_a_user_without_view_hit_only_the_read(
    gates, viewer, reads_only
):
    north, _, device = gates
    stolen = WatchlistFactory(name="Stolen", colour="#123456", priority=5)
    entry_add(stolen, "AB12CDE", category="stolen_vehicle", description="Blue Golf", make="VW")
    api = APIClient()
    api.force_authenticate(viewer)

    async def scenario():
        seeing = await open_stream(await sync_to_async(session_headers)(viewer))
        blind = await open_stream(await sync_to_async(session_headers)(reads_only))
        result, _ = await ingest(device, read(north, "AB12CDE"), read(north, "ZZ99ZZZ"))
        got = await frames_until_quiet(seeing)
        [frame] = hit_frames(got)
        hit = frame["hit"]
        rest = await database_sync_to_async(lambda: api.get(f"/api/hits/{hit['id']}/").json())()
        assert hit == rest
        assert hit["event"] == str(result.id) and hit["camera"] == north.pk
        assert hit["watchlist_name"] == "Stolen" and hit["plate"] == "AB12CDE"
        assert hit["snapshot"]["watchlist"]["colour"] == "#123456"
        assert hit["snapshot"]["entry"]["description"] == "Blue Golf"
        assert frame["acknowledge_url"] == f"/api/hits/{hit['id']}/acknowledge/"
        assert [f["type"] for f in got].count("event.created") == 2
        others = await frames_until_quiet(blind)
        assert hit_frames(others) == [] and len(others) == 2
        await seeing.disconnect()
        await blind.disconnect()

    run(scenario)


def test_a_covert_lists_hit_reaches_its_owner_and_a_superuser_not_another_viewer(
    gates, viewer, admin_user, django_user_model
):
    north, _, device = gates
    owner = django_user_model.objects.create_user(username="owner", password="x")
    owner.groups.add(Group.objects.get(name="viewer"))
    covert = WatchlistFactory(name="Covert", covert=True)
    covert.owners.add(owner)
    entry_add(covert, "SECRET1")
    open_list = WatchlistFactory(name="Open")
    entry_add(open_list, "PUBLIC1")

    async def scenario():
        streams = {
            user.username: await open_stream(await sync_to_async(session_headers)(user))
            for user in (viewer, owner, admin_user)
        }
        await ingest(device, read(north, "SECRET1"), read(north, "PUBLIC1"))
        seen = {}
        for name, stream in streams.items():
            seen[name] = sorted(
                f["hit"]["watchlist_name"] for f in hit_frames(await frames_until_quiet(stream))
            )
            await stream.disconnect()
        assert seen == {
            viewer.username: ["Open"],
            owner.username: ["Covert", "Open"],
            admin_user.username: ["Covert", "Open"],
        }

    run(scenario)


def test_the_camera_filter_applies_to_hits(gates, viewer):
    north, south, device = gates
    listed = WatchlistFactory(name="Wanted")
    entry_add(listed, "NORTH1")
    entry_add(listed, "SOUTH1")

    async def scenario():
        headers = await sync_to_async(session_headers)(viewer)
        stream = await open_stream(headers, f"cameras={south.pk}")
        await ingest(device, read(north, "NORTH1"), read(south, "SOUTH1"))
        got = await frames_until_quiet(stream)
        assert [f["hit"]["plate"] for f in hit_frames(got)] == ["SOUTH1"]
        await stream.disconnect()

    run(scenario)


def test_view_hit_withdrawn_mid_connection_stops_hit_frames_at_the_next_recheck(
    gates, viewer, monkeypatch
):
    from events.consumers import EventStreamConsumer

    monkeypatch.setattr(EventStreamConsumer, "recheck_every", 0.2)
    north, _, device = gates
    listed = WatchlistFactory(name="Wanted")
    entry_add(listed, "FIRST1")
    entry_add(listed, "LATER1")
    group = Group.objects.create(name="reads-only")
    group.permissions.add(Permission.objects.get(codename="view_plateevent"))

    async def scenario():
        stream = await open_stream(await sync_to_async(session_headers)(viewer))
        await ingest(device, read(north, "FIRST1"))
        assert len(hit_frames(await frames_until_quiet(stream))) == 1

        def demote():
            viewer.groups.set([group])

        await database_sync_to_async(demote)()
        await frames_until_quiet(stream, timeout=0.6)  # a recheck or two
        await ingest(device, read(north, "LATER1"))
        got = await frames_until_quiet(stream)
        assert [f["type"] for f in got] == ["event.created"]
        await stream.disconnect()

    run(scenario)


def test_a_hit_frame_that_fails_to_build_is_logged_without_its_plate_and_the_read_still_goes(
    gates, viewer, monkeypatch, caplog
):
    north, _, device = gates
    entry_add(WatchlistFactory(name="Stolen"), "FAIL123")

    def broken(self, instance):
        raise ValueError("no frame")

    monkeypatch.setattr(HitSerializer, "to_representation", broken)

    async def scenario():
        stream = await open_stream(await sync_to_async(session_headers)(viewer))
        await ingest(device, read(north, "FAIL123"))
        got = await frames_until_quiet(stream)
        assert [f["type"] for f in got] == ["event.created"]
        await stream.disconnect()

    run(scenario)
    assert "no live.hit frame" in caplog.text
    assert "FAIL123" not in caplog.text
