"""The OpenAPI schema lists every operation's error answers (core/schema.py), and the errors
the API really answers have the documented shape: a client generated from /api/schema/ can
rely on both. (anpr/tests/test_fuzz_schema.py checks the same for generated requests.)"""

import jsonschema
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from cameras.tests.factories import SensorSettingsFactory
from events.tests.images import image_bytes

METHODS = ("get", "put", "patch", "post", "delete")


@pytest.fixture(scope="module")
def openapi() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(openapi):
    for path, item in openapi["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def _statuses(operation) -> set[int]:
    return {int(code) for code in operation["responses"]}


def test_every_operation_lists_the_errors_it_can_answer(openapi):
    error = {"$ref": "#/components/schemas/ApiError"}
    for path, method, operation in _operations(openapi):
        where = f"{method.upper()} {path}"
        statuses = _statuses(operation)
        assert 503 in statuses, where  # the database out of reach (core.outage)
        if {} not in operation.get("security", [{}]):  # anonymous may not call it
            assert {401, 403} <= statuses, where
        if "{" in path and "{device_key}" not in path:  # a key in the path is a credential
            assert 404 in statuses, where
        if "requestBody" in operation:
            assert {400, 413} <= statuses, where
        for code, answer in operation["responses"].items():
            if int(code) >= 400:
                assert answer["content"]["application/json"]["schema"] == error, (where, code)
                assert answer["description"], (where, code)


def test_errors_specific_to_an_operation_are_listed_where_they_occur(openapi):
    paths = openapi["paths"]
    # 409: deleting a row still referenced, a write beaten by a concurrent one, a redelivery
    # of a delivery being sent; not on reads.
    assert 409 in _statuses(paths["/api/cameras/{id}/"]["delete"])
    assert 409 in _statuses(paths["/api/cameras/"]["post"])
    assert 409 in _statuses(paths["/api/exporter-deliveries/{id}/redeliver/"]["post"])
    assert 409 not in _statuses(paths["/api/cameras/{id}/"]["get"])
    assert 409 not in _statuses(paths["/api/events/"]["get"])
    # 429 with Retry-After: the throttled device ingest, and the events list (as CSV).
    throttled = {path for path, _, op in _operations(openapi) if 429 in _statuses(op)}
    assert "/api/events/ingest/" in throttled and "/api/ingest/frigate/{device_key}/" in throttled
    assert "Retry-After" in paths["/api/events/"]["get"]["responses"]["429"]["headers"]
    throttled.discard("/api/events/")
    assert 404 not in _statuses(paths["/api/events/ingest/{device_key}/"]["post"])
    assert all("ingest" in path for path in throttled), throttled
    ingest = paths["/api/events/ingest/"]["post"]["responses"]
    assert "Retry-After" in ingest["429"]["headers"]
    # 415 where DRF's parsers read the body, not on ingest (it reads any body as the device
    # sends it).
    assert 415 in _statuses(paths["/api/cameras/"]["post"]) and "415" not in ingest
    # A paged list: a page past the last is a 404.
    assert 404 in _statuses(paths["/api/cameras/"]["get"])
    # A signed image link needs no account: 403 (altered, expired) and 404, never 401.
    link = _statuses(paths["/api/event-images/{token}/"]["get"])
    assert {403, 404} <= link and 401 not in link
    # A view's own words for an error stay; the body is the one shape.
    assert "Bad JSON" in ingest["400"]["description"]


def _documented(openapi, path, method, status) -> dict:
    """The schema of the answer `status` of an operation, components resolved."""
    schema = openapi["paths"][path][method]["responses"][str(status)]["content"]
    return {**schema["application/json"]["schema"], "components": openapi["components"]}


def test_the_errors_the_api_answers_are_the_documented_ones(
    openapi, api_client, viewer_client, operator_client, device_client, camera, settings
):
    """One real answer of each error status, checked against what the schema says of it."""
    settings.EVENT_IMAGE_MAX_BYTES = 2048
    SensorSettingsFactory(camera=camera)
    ingest_json = {"camera": camera.slug, "plate": "AB12CDE"}
    read = {**ingest_json, "captured_at": timezone.now().isoformat()}
    big = SimpleUploadedFile("big.png", image_bytes("PNG", (400, 400)) + b"\0" * 4096)
    answers = [
        ("/api/cameras/", "post", operator_client.post("/api/cameras/", {"name": ""}), 400),
        ("/api/cameras/", "get", api_client.get("/api/cameras/"), 401),
        ("/api/cameras/", "post", viewer_client.post("/api/cameras/", {"name": "x"}), 403),
        ("/api/cameras/", "get", device_client.get("/api/cameras/"), 403),
        ("/api/cameras/{id}/", "get", viewer_client.get("/api/cameras/999999/"), 404),
        ("/api/cameras/", "get", viewer_client.get("/api/cameras/?page=9"), 404),
        (
            "/api/cameras/{id}/",
            "delete",
            operator_client.delete(f"/api/cameras/{camera.pk}/"),
            409,
        ),
        (
            "/api/cameras/",
            "post",
            operator_client.post("/api/cameras/", "x", content_type="text/plain"),
            415,
        ),
        (
            "/api/events/ingest/",
            "post",
            device_client.post("/api/events/ingest/", ingest_json, format="json"),
            400,
        ),
        (
            "/api/events/ingest/",
            "post",
            device_client.post("/api/events/ingest/", {**read, "plate_image": big}),
            413,
        ),
        (
            "/api/ingest/openalpr/",
            "post",
            device_client.post("/api/ingest/openalpr/", "{", content_type="application/json"),
            400,
        ),
    ]
    settings.INGEST_THROTTLE_RATE = "1/min"
    for _ in range(2):
        throttled = device_client.post("/api/events/ingest/", read, format="json")
    answers.append(("/api/events/ingest/", "post", throttled, 429))
    settings.CSV_EXPORT_THROTTLE_RATE = "1/min"
    for _ in range(2):
        exported = viewer_client.get("/api/events/?format=csv")
    answers.append(("/api/events/", "get", exported, 429))
    for path, method, response, status in answers:
        assert response.status_code == status, (path, response.content)
        assert response["Content-Type"] == "application/json"
        body, documented = response.json(), _documented(openapi, path, method, status)
        jsonschema.validate(body, documented)
        properties = openapi["components"]["schemas"]["ApiError"]["properties"]
        assert set(body) <= set(properties), (path, status, body)  # nothing undocumented
    assert int(throttled["Retry-After"]) > 0


def test_the_api_index_links_the_schema_docs_and_collections(
    api_client, device_client, viewer_client, operator_client
):
    """GET /api/ was a 404; it is where a client starts, for anyone (each link answers for
    itself who may follow it)."""
    for client in (api_client, device_client, viewer_client, operator_client):
        response = client.get("/api/")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
    index = response.json()
    assert index["schema"] == "http://testserver/api/schema/"
    assert index["docs"] == "http://testserver/api/docs/"
    collections = index["collections"]
    assert collections["events"] == "http://testserver/api/events/"
    assert collections["cameras"] == "http://testserver/api/cameras/"
    for url in (index["schema"], index["docs"], *collections.values()):
        assert viewer_client.get(url).status_code == 200, url  # every link leads somewhere
    assert api_client.get(collections["cameras"]).status_code == 401
