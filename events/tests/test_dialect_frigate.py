"""Frigate messages relayed over HTTP: one event per tracked object, created when a plate
first appears, updated in place while the object is open, final after `end`."""

import asyncio
import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from cameras.services import device_create, user_token_issue
from cameras.tests.factories import CameraFactory
from events.models import PlateEvent

pytestmark = pytest.mark.django_db

URL = "/api/ingest/frigate/"
PAYLOADS = Path(__file__).parent / "payloads"
OBJECT_ID = "1607123955.475377-mxklsc"  # the id in both Frigate samples
STARTED = datetime.fromtimestamp(1607123955.475377, tz=UTC)


def sample(name: str):
    return json.loads((PAYLOADS / name).read_text("utf-8"))


def event_message(kind: str, plate: str | None, score: float | None = None) -> dict:
    """The documented `frigate/events` message (an `update`) as a `kind` message whose
    object has read `plate` (None: no plate yet)."""
    message = copy.deepcopy(sample("frigate_event.json"))
    message["type"] = kind
    message["after"]["recognized_license_plate"] = plate
    message["after"]["recognized_license_plate_score"] = score
    if kind == "end":
        message["after"]["end_time"] = 1607123975.1
    return message


@pytest.fixture
def relay():
    """(client, front_door camera, driveway camera) of a relay for a Frigate with two cameras."""
    front = CameraFactory(slug="front-door", external_id="front_door")
    driveway = CameraFactory(slug="driveway", external_id="driveway_cam")
    _, issued = device_create(name="frigate-relay", cameras=[front, driveway])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issued.key}")
    return client, front, driveway


def post(client, message):
    return client.post(URL, message, format="json")


def test_new_update_end_is_one_event_with_the_final_plate(relay):
    client, front, _ = relay

    no_plate = post(client, event_message("new", None))
    assert no_plate.status_code == 200 and no_plate.json()["results"] == []
    assert not PlateEvent.objects.exists()

    first = post(client, event_message("update", "ABC1Z345", 0.71))
    assert first.status_code == 201 and first.json()["results"][0]["status"] == "created"
    event_id = first.json()["results"][0]["id"]

    documented = post(client, sample("frigate_event.json"))  # verbatim: ABC12345, 0.933451
    assert documented.status_code == 201, documented.json()
    assert documented.json()["results"] == [
        {"index": 0, "status": "updated", "id": event_id, "warnings": []}
    ]

    ended = post(client, event_message("end", "ABC12345", 0.933451))
    assert ended.json()["results"][0]["status"] == "updated"

    late = post(client, event_message("update", "XYZ999", 0.99))  # after end: changes nothing
    assert late.status_code == 200 and late.json()["results"][0]["status"] == "duplicate"

    event = PlateEvent.objects.get()
    assert str(event.pk) == event_id
    assert (event.plate_raw, event.plate, event.confidence) == ("ABC12345", "ABC12345", 0.933451)
    assert event.idempotency_key == OBJECT_ID
    assert event.camera == front and event.source == "frigate"
    assert event.captured_at == STARTED  # the object's start, unchanged by the updates
    assert event.candidates == [{"plate": "ABC1Z345", "confidence": 0.71}]
    assert event.metadata["frigate_ended"] is True
    assert event.metadata["current_zones"] == ["yard", "driveway"]
    assert event.metadata["sub_label"] == "John Smith"
    assert (event.vehicle_type, event.vehicle_type_raw) == ("other", "person")  # the docs' label


def test_a_repeated_update_with_nothing_new_writes_nothing(relay):
    client, _, _ = relay
    post(client, sample("frigate_event.json"))
    stored = PlateEvent.objects.get()

    again = post(client, sample("frigate_event.json"))

    assert again.status_code == 200
    assert again.json()["results"][0]["status"] == "duplicate"
    assert PlateEvent.objects.get().updated_at == stored.updated_at


def test_lpr_tracked_object_update_creates_then_events_refine_it_in_place(relay):
    client, _, driveway = relay

    created = post(client, sample("frigate_tracked_object_update_lpr.json"))

    assert created.status_code == 201, created.json()
    event = PlateEvent.objects.get()
    assert (event.plate, event.confidence, event.camera) == ("123ABC", 0.95, driveway)
    assert event.captured_at == STARTED  # from the object id, as Frigate builds it
    assert event.plate_box == [917, 487, 1029, 529]
    assert event.metadata["known_name"] == "John's Car"

    refined = post(client, sample("frigate_event.json"))

    assert refined.json()["results"][0]["status"] == "updated"
    event.refresh_from_db()
    assert event.plate == "ABC12345" and event.confidence == 0.933451
    assert event.camera == driveway  # an event keeps its camera
    assert event.plate_box == [917, 487, 1029, 529]  # not in the events message: kept
    assert event.metadata["known_name"] == "John's Car"
    assert [c["plate"] for c in event.candidates] == ["123ABC"]
    assert PlateEvent.objects.count() == 1


def test_other_tracked_object_updates_store_nothing(relay):
    client, _, _ = relay
    description = {"type": "description", "id": OBJECT_ID, "description": "A red car"}
    response = post(client, description)
    assert response.status_code == 200 and response.json()["results"] == []
    assert not PlateEvent.objects.exists()


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"type": "bogus"}, "type"),
        ({**sample("frigate_tracked_object_update_lpr.json"), "score": "high"}, "score"),
        ({**sample("frigate_tracked_object_update_lpr.json"), "id": ""}, "id"),
        ({"type": "new", "after": ["not", "an", "object"]}, "after"),
    ],
)
def test_bad_messages_are_refused_naming_the_field(relay, message, field):
    client, _, _ = relay
    response = post(client, message)
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not PlateEvent.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"), [({"camera": "garage"}, "camera"), ({"score": 95}, "confidence")]
)
def test_a_read_our_rules_refuse_is_a_200_with_its_result_naming_the_field(relay, change, field):
    """The message was Frigate's: the answer is its result (a 4xx would be retried forever)."""
    client, _, _ = relay
    response = post(client, {**sample("frigate_tracked_object_update_lpr.json"), **change})
    assert response.status_code == 200, response.content
    assert response.json()["rejected"] == 1
    [result] = response.json()["results"]
    assert result["status"] == "rejected" and result["id"] is None
    assert field in result["errors"], result
    assert not PlateEvent.objects.exists()


def test_only_devices_may_relay(relay, viewer):
    """A user's API token is no device key: 401."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {user_token_issue(user=viewer, name='t').key}")
    assert client.post(URL, sample("frigate_event.json"), format="json").status_code == 401
    assert APIClient().post(URL, sample("frigate_event.json"), format="json").status_code == 401
    assert not PlateEvent.objects.exists()


def test_export_deliveries_are_planned_once_per_object_when_its_event_is_created(relay):
    from exporters.models import ExportDelivery, ExporterConfig

    client, _, _ = relay
    ExporterConfig.objects.create(name="everything", url="https://receiver.example.org/hook")

    post(client, event_message("new", None))
    assert not ExportDelivery.objects.exists()  # no plate, no event, nothing to export
    post(client, event_message("update", "ABC1Z345", 0.71))
    post(client, sample("frigate_event.json"))
    post(client, event_message("end", "ABC12345", 0.933451))

    assert PlateEvent.objects.get().plate == "ABC12345"
    assert ExportDelivery.objects.count() == 1


@pytest.mark.django_db(transaction=True)  # broadcasts go out on commit
def test_the_live_stream_hears_the_creation_then_each_refinement(relay):
    from asgiref.sync import async_to_sync, sync_to_async
    from channels.layers import get_channel_layer

    from events.broadcast import EVENTS_GROUP

    client, _, _ = relay

    def relay_posts():
        post(client, event_message("update", "ABC1Z345", 0.71))
        post(client, sample("frigate_event.json"))
        post(client, sample("frigate_event.json"))  # nothing new: no frame

    async def relay_frames(layer, channel, *, timeout: float) -> list[dict]:
        """The frames of the next layer message that are about the relay's cameras: a read
        an earlier test stored may still be on its way to the group (the sender is a
        process-wide background loop)."""
        message = await asyncio.wait_for(layer.receive(channel), timeout)
        frames = [json.loads(frame["text"]) for frame in message["frames"]]
        return [f for f in frames if f["event"]["camera_slug"] in ("front-door", "driveway")]

    async def listen() -> list[dict]:
        """Everything in one event loop, as a live consumer has it (channels-redis needs it)."""
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(EVENTS_GROUP, channel)
        try:
            await sync_to_async(relay_posts)()  # in the test's thread, with its database
            frames = []
            while len(frames) < 2:
                frames += await relay_frames(layer, channel, timeout=5)
            with pytest.raises(TimeoutError):  # the repeat sent nothing
                while not await relay_frames(layer, channel, timeout=0.5):
                    pass
            return frames
        finally:
            await layer.group_discard(EVENTS_GROUP, channel)

    frames = async_to_sync(listen)()

    assert [(f["type"], f["event"]["plate"]) for f in frames] == [
        ("event.created", "ABC1Z345"),
        ("event.updated", "ABC12345"),
    ]
    assert frames[0]["event"]["id"] == frames[1]["event"]["id"]
