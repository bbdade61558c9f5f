"""`manage.py frigate_listen` against the real local Mosquitto broker: what "Frigate"
publishes (new -> update -> end) becomes one event with the final plate."""

import copy
import json
import socket
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from cameras.services import device_create
from cameras.tests.factories import CameraFactory
from conftest import require_service
from events.management.commands.frigate_listen import FrigateListener
from events.models import PlateEvent

HOST, PORT = "127.0.0.1", 1883
PAYLOADS = Path(__file__).parent / "payloads"


@pytest.fixture
def broker():
    try:
        socket.create_connection((HOST, PORT), timeout=2).close()
    except OSError as error:
        require_service("Mosquitto", f"{HOST}:{PORT} does not answer ({error})")


def frigate_messages(prefix: str) -> list[tuple[str, dict]]:
    """What Frigate publishes for one car: no plate yet, a first plate, the documented
    update (ABC12345), a plate-recognition update, and the end."""
    documented = json.loads((PAYLOADS / "frigate_event.json").read_text())

    def event(kind, plate, score):
        message = copy.deepcopy(documented)
        message["type"] = kind
        message["after"]["recognized_license_plate"] = plate
        message["after"]["recognized_license_plate_score"] = score
        return (f"{prefix}/events", message)

    lpr = json.loads((PAYLOADS / "frigate_tracked_object_update_lpr.json").read_text())
    lpr.update(camera="front_door", plate="ABC1234S", score=0.9)
    return [
        event("new", None, None),
        event("update", "ABC1Z345", 0.71),
        (f"{prefix}/events", documented),
        (f"{prefix}/tracked_object_update", lpr),
        event("end", "ABC12345", 0.933451),
    ]


def _run(listener: FrigateListener):
    try:
        listener.run()
    finally:
        connection.close()  # this thread's database connection


def _publish(messages: list[tuple[str, dict]]) -> None:
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"frigate-{uuid.uuid4()}")
    publisher.connect(HOST, PORT)
    publisher.loop_start()
    try:
        for topic, message in messages:
            publisher.publish(topic, json.dumps(message), qos=1).wait_for_publish(timeout=5)
    finally:
        publisher.disconnect()
        publisher.loop_stop()


@pytest.mark.django_db(transaction=True)
def test_listener_ingests_new_update_end_as_one_event_with_the_final_plate(broker):
    camera = CameraFactory(slug="front-door", external_id="front_door")
    device, _ = device_create(name="frigate-nvr", cameras=[camera])
    prefix = f"test-{uuid.uuid4().hex[:10]}/frigate"  # no other test or Frigate shares it
    messages = frigate_messages(prefix)
    listener = FrigateListener(device_id=device.pk, host=HOST, port=PORT, topic_prefix=prefix)
    thread = threading.Thread(target=_run, args=(listener,), daemon=True)
    thread.start()
    try:
        assert listener.subscribed.wait(10), "the listener did not subscribe"
        _publish(messages)
        deadline = time.monotonic() + 15
        while listener.handled < len(messages) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        listener.stop()
        thread.join(10)
    assert not thread.is_alive(), "stop() did not end the listener"

    assert listener.handled == len(messages)
    event = PlateEvent.objects.get()
    assert (event.plate, event.confidence, event.camera) == ("ABC12345", 0.933451, camera)
    assert event.idempotency_key == "1607123955.475377-mxklsc"
    assert event.source == "frigate" and event.device == device
    assert event.metadata["frigate_ended"] is True
    assert {c["plate"] for c in event.candidates} == {"ABC1Z345", "ABC1234S"}


@pytest.mark.django_db(transaction=True)
def test_a_malformed_message_is_skipped_and_the_listener_goes_on(broker):
    camera = CameraFactory(external_id="driveway_cam")
    device, _ = device_create(name="frigate-nvr", cameras=[camera])
    prefix = f"test-{uuid.uuid4().hex[:10]}/frigate"
    lpr = json.loads((PAYLOADS / "frigate_tracked_object_update_lpr.json").read_text())
    listener = FrigateListener(device_id=device.pk, host=HOST, port=PORT, topic_prefix=prefix)
    thread = threading.Thread(target=_run, args=(listener,), daemon=True)
    thread.start()
    try:
        assert listener.subscribed.wait(10)
        publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        publisher.connect(HOST, PORT)
        publisher.loop_start()
        for payload in (b"{not json", json.dumps({"type": "bogus"}), json.dumps(lpr)):
            topic = f"{prefix}/tracked_object_update"
            publisher.publish(topic, payload, qos=1).wait_for_publish(timeout=5)
        publisher.disconnect()
        publisher.loop_stop()
        deadline = time.monotonic() + 15
        while listener.handled < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        listener.stop()
        thread.join(10)

    event = PlateEvent.objects.get()
    assert (event.plate, event.camera) == ("123ABC", camera)


def test_stop_ends_a_listener_whose_broker_does_not_answer():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    listener = FrigateListener(device_id=0, host="127.0.0.1", port=port)
    thread = threading.Thread(target=listener.run, daemon=True)
    thread.start()
    time.sleep(0.5)  # retrying the first connection
    listener.stop()
    thread.join(5)
    assert not thread.is_alive()


@pytest.mark.django_db
def test_the_command_refuses_an_unknown_device():
    with pytest.raises(CommandError, match="no-such-nvr"):
        call_command("frigate_listen", "--device", "no-such-nvr")
