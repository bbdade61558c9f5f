"""JSON from outside is held to a depth and a size (core/json_bounds.py): a value nested
~1,000 levels deep was stored and then broke every reader. The rule itself, the vendors'
published documents within it, and the configuration API, its parser and the admin."""

import json
from pathlib import Path

import pytest
from django.test import Client

from cameras.models import Camera, ModelConfig, SensorSettings, Zone
from cameras.tests.factories import square
from core.json_bounds import (
    BODY_MAX_DEPTH,
    MAX_BYTES,
    MAX_DEPTH,
    json_bounds_error,
    json_depth_exceeds,
    json_parse,
)
from exporters.models import ExporterConfig

PAYLOADS = Path(__file__).parents[2] / "events" / "tests" / "payloads"
TOO_DEEP = f"Nested deeper than {MAX_DEPTH} levels."


def nested(levels: int, inner=1):
    """`inner` inside `levels` lists: [[[1]]] is nested(3)."""
    value = inner
    for _ in range(levels):
        value = [value]
    return value


def deep_text(levels: int) -> str:
    """A JSON document too deep for Python's own parser to build."""
    return '{"a":' * levels + "1" + "}" * levels


# --- The rule ------------------------------------------------------------------------------


def test_depth_counts_containers_and_stops_at_the_limit():
    assert not json_depth_exceeds(1, 0)
    assert not json_depth_exceeds([], 1) and json_depth_exceeds([], 0)
    assert not json_depth_exceeds({"a": [{"b": 1}], "c": 2}, 3)
    assert json_depth_exceeds({"a": [{"b": {}}]}, 3)
    assert json_depth_exceeds(nested(5000), MAX_DEPTH)  # no RecursionError: not recursive


@pytest.mark.parametrize("encoded", [False, True])
def test_bounds_of_a_value(encoded):
    def error(value):
        return json_bounds_error(value, json.dumps(value) if encoded else None)

    assert error(nested(MAX_DEPTH)) is None
    assert error(nested(MAX_DEPTH + 1)) == TOO_DEEP
    assert error({"a": nested(MAX_DEPTH)}) == TOO_DEEP
    # brackets inside strings are no nesting
    assert error({"note": "[" * 100}) is None
    assert error({"blob": "x" * MAX_BYTES}).startswith(f"At most {MAX_BYTES} bytes of JSON")
    assert error({"blob": "x" * (MAX_BYTES - 20)}) is None
    assert error({}) is None and error([]) is None and error(None) is None


def test_every_vendor_sample_is_within_the_bounds():
    """The published documents we ingest (events/tests/payloads, from ../shared/edge-payloads)
    parse, and each of their values could be stored as a field."""
    samples = sorted(PAYLOADS.glob("*.json"))
    assert len(samples) >= 12
    for path in samples:
        document = json_parse(path.read_text(encoding="utf-8-sig"))
        assert json_bounds_error(document) is None, path.name
        for value in document.values() if isinstance(document, dict) else document:
            assert json_bounds_error(value) is None, path.name


def test_json_parse_refuses_deep_documents_as_malformed():
    assert json_parse(json.dumps(nested(BODY_MAX_DEPTH))) == nested(BODY_MAX_DEPTH)
    for text in (json.dumps(nested(BODY_MAX_DEPTH + 1)), deep_text(5000)):
        with pytest.raises(ValueError, match=f"nested deeper than {BODY_MAX_DEPTH} levels"):
            json_parse(text)


# --- The configuration API: the parser and every JSON field ---------------------------------


def test_a_body_too_deep_for_the_parser_is_a_400(operator_client):
    operator_client.raise_request_exception = False
    for text in (deep_text(5000), json.dumps({"name": nested(BODY_MAX_DEPTH + 1)})):
        response = operator_client.post("/api/zones/", text, content_type="application/json")
        assert response.status_code == 400, response.content
        assert response.json() == {
            "detail": f"The JSON is nested deeper than {BODY_MAX_DEPTH} levels.",
            "code": "parse_error",
        }


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/api/cameras/", {"name": "Gate", "slug": "gate"}, "metadata"),
        ("/api/zones/", {"name": "Lane", "kind": "entry"}, "geometry"),
        ("/api/zones/", {"name": "Lane", "kind": "entry", "geometry": square()}, "roi"),
        ("/api/model-configs/", {"name": "ocr", "version": "1.0.0", "task": "ocr"}, "parameters"),
        ("/api/sensor-settings/", {}, "extra"),
        ("/api/exporters/", {"name": "crm", "url": "https://crm.example/hook"}, "headers"),
        ("/api/exporters/", {"name": "crm", "url": "https://crm.example/hook"}, "send"),
    ],
)
def test_every_json_field_of_the_api_refuses_deep_and_large_values(
    admin_user, api_client, camera, url, body, field
):
    api_client.force_authenticate(admin_user)
    body = {**body, "camera": camera.id}
    models = (Camera, Zone, ModelConfig, SensorSettings, ExporterConfig)
    before = [model.objects.count() for model in models]
    deep = nested(MAX_DEPTH + 1) if field in ("send", "candidates") else {"a": nested(MAX_DEPTH)}
    large = ["x" * 1000] * 70 if field == "send" else {"blob": "x" * (MAX_BYTES + 1)}
    for value, message in ((deep, TOO_DEEP), (large, f"At most {MAX_BYTES} bytes of JSON")):
        response = api_client.post(url, {**body, field: value}, format="json")
        assert response.status_code == 400, response.content
        # first (the field's own validators, e.g. the GeoJSON check, may add theirs)
        assert response.json()["errors"][field][0].startswith(message)
    assert [model.objects.count() for model in models] == before


def test_values_within_the_bounds_are_stored(operator_client):
    metadata = {"site": {"lanes": nested(MAX_DEPTH - 2)}, "note": "x" * (MAX_BYTES - 100)}
    response = operator_client.post(
        "/api/cameras/", {"name": "Gate", "slug": "gate", "metadata": metadata}, format="json"
    )
    assert response.status_code == 201, response.content
    assert Camera.objects.get().metadata == metadata


# --- The admin: the same refusal, never a 500 ------------------------------------------------


@pytest.fixture
def console(operator):
    client = Client(raise_request_exception=False)
    client.force_login(operator)
    return client


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (json.dumps({"a": nested(MAX_DEPTH)}), TOO_DEEP),
        (json.dumps({"blob": "x" * MAX_BYTES}), f"At most {MAX_BYTES} bytes of JSON"),
        (deep_text(5000), TOO_DEEP),  # too deep for the form's own parser
    ],
)
def test_the_admin_refuses_the_same_values_on_the_field(console, camera, text, message):
    response = console.post(
        "/admin/cameras/zone/add/",
        {"camera": camera.id, "name": "Lane", "kind": "entry", "geometry": text},
    )
    assert response.status_code == 200  # the form again, with the error on the field
    [error] = response.context["adminform"].form.errors["geometry"]
    assert error.startswith(message)
    assert not Zone.objects.exists()
