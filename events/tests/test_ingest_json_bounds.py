"""A device's JSON is held to the bounds of core/json_bounds.py on every ingest path: a read
whose metadata nested ~930 levels was stored and then made the event list a 500 for everyone.
Native single and batch, multipart, each vendor's endpoint and the MQTT listener answer a
clear refusal naming the field (or the body), store nothing, and the list keeps answering."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from core.json_bounds import BODY_MAX_DEPTH, MAX_BYTES, MAX_DEPTH
from core.tests.test_json_bounds import deep_text, nested
from events.management.commands.frigate_listen import FrigateListener
from events.models import PlateEvent

URL = "/api/events/ingest/"
TOO_DEEP = f"Nested deeper than {MAX_DEPTH} levels."
BODY_TOO_DEEP = f"The JSON is nested deeper than {BODY_MAX_DEPTH} levels."
#: What every device endpoint says of a body (or a JSON form field) nested too deep.
NOT_JSON_TOO_DEEP = f"Not valid JSON: {BODY_TOO_DEEP}"

pytestmark = pytest.mark.django_db


def _event(**fields) -> dict:
    captured_at = (timezone.now() - timedelta(seconds=5)).isoformat()
    return {"plate": "AB12CDE", "captured_at": captured_at, **fields}


def _post(client, body, url=URL):
    client.raise_request_exception = False
    text = body if isinstance(body, str) else json.dumps(body)
    return client.post(url, text, content_type="application/json")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"metadata": {"a": nested(MAX_DEPTH)}}, "metadata", TOO_DEEP),
        ({"metadata": {"a": nested(BODY_MAX_DEPTH - 4)}}, "metadata", TOO_DEEP),
        ({"lane": nested(MAX_DEPTH)}, "metadata", TOO_DEEP),  # unknown fields land in metadata
        ({"candidates": nested(MAX_DEPTH + 1)}, "candidates", TOO_DEEP),
        ({"metadata": {"blob": "x" * MAX_BYTES}}, "metadata", f"At most {MAX_BYTES} bytes"),
        ({"plate_box": [nested(40), 1, 2, 3]}, "plate_box", "Must be four numbers"),
        ({"zone": nested(BODY_MAX_DEPTH - 4)}, "zone", "Must be the zone's name or id."),
    ],
)
def test_a_read_out_of_bounds_is_refused_naming_the_field(
    device_client, viewer_client, fields, field, message
):
    response = _post(device_client, _event(**fields))
    assert response.status_code == 400, response.content
    [error] = response.json()["errors"][field]
    assert error.startswith(message)
    assert not PlateEvent.objects.exists()
    assert viewer_client.get("/api/events/").status_code == 200


def test_a_read_within_the_bounds_is_stored(device_client):
    metadata = {"site": {"lanes": nested(MAX_DEPTH - 2)}, "note": "[{" * 100}
    response = _post(device_client, _event(metadata=metadata, candidates=[{"plate": "AB12CDE"}]))
    assert response.status_code == 201, response.content
    assert PlateEvent.objects.get().metadata == metadata


@pytest.mark.parametrize(
    "body",
    [
        deep_text(5000),  # too deep for Python's parser
        _event(metadata={"a": nested(200)}),
        [_event(zone=nested(500))],
    ],
)
def test_a_body_nested_too_deep_is_a_400_naming_the_body(device_client, body):
    response = _post(device_client, body)
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Invalid input.",
        "code": "invalid",
        "errors": {"body": [NOT_JSON_TOO_DEEP]},
    }
    assert not PlateEvent.objects.exists()


def test_in_a_batch_the_deep_read_rejects_only_itself(device_client):
    good, deep = _event(event_id="good"), _event(event_id="deep", metadata=nested(40))
    response = _post(device_client, [good, deep])
    assert response.status_code == 201, response.content
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "rejected"]
    assert results[1]["errors"] == {"metadata": ["Must be a JSON object."]}  # a list, not a dict
    deep["metadata"] = {"a": nested(40)}
    response = _post(device_client, [good, {**deep, "event_id": "deep-2"}])
    assert response.json()["results"][1]["errors"] == {"metadata": [TOO_DEEP]}
    assert PlateEvent.objects.count() == 1


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"event": deep_text(5000)}, "event", NOT_JSON_TOO_DEEP),
        ({"event": json.dumps(_event(metadata={"a": nested(40)}))}, "metadata", TOO_DEEP),
        ({**_event(), "metadata": json.dumps({"a": nested(40)})}, "metadata", TOO_DEEP),
        ({**_event(), "metadata": deep_text(5000)}, "metadata", NOT_JSON_TOO_DEEP),
        ({**_event(), "candidates": deep_text(5000)}, "candidates", NOT_JSON_TOO_DEEP),
    ],
)
def test_multipart_reads_are_held_to_the_same_bounds(device_client, form, field, message):
    device_client.raise_request_exception = False
    response = device_client.post(URL, form)  # multipart/form-data
    assert response.status_code == 400, response.content
    assert response.json()["errors"][field] == [message]
    assert not PlateEvent.objects.exists()


@pytest.mark.parametrize("vendor", ["platerecognizer", "openalpr", "frigate"])
@pytest.mark.parametrize("levels", [BODY_MAX_DEPTH + 1, 5000])
def test_each_vendor_endpoint_refuses_a_deep_body(device_client, vendor, levels):
    text = json.dumps(nested(levels)) if levels < 1000 else deep_text(levels)
    response = _post(device_client, text, url=f"/api/ingest/{vendor}/")
    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]["body"]
    assert error == NOT_JSON_TOO_DEEP
    assert not PlateEvent.objects.exists()


def test_plate_recognizer_multipart_refuses_a_deep_json_field(device_client):
    device_client.raise_request_exception = False
    response = device_client.post("/api/ingest/platerecognizer/", {"json": deep_text(5000)})
    assert response.status_code == 400, response.content
    assert response.json()["errors"]["json"] == [NOT_JSON_TOO_DEEP]


def test_the_mqtt_listener_drops_a_deep_message_and_keeps_listening(device_with_key):
    device, _ = device_with_key
    listener = FrigateListener(device_id=device.pk, host="127.0.0.1")
    assert listener.handle("frigate/events", deep_text(5000).encode()) == []
    assert listener.handle("frigate/events", json.dumps(nested(100)).encode()) == []
