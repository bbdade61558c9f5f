"""The API fuzzed from its own OpenAPI schema: no generated request may answer 5xx, and every
answer is one the schema lists (its status, its Content-Type and its body's schema), so a
client generated from /api/schema/ can rely on it.

schemathesis reads the schema `/api/schema/` serves, sends every operation its examples and
generated requests through the real application (in-process WSGI, every middleware, the test
database: PostgreSQL in CI), as an admin (a user API token) and as an edge device (a device
key), and checks `not_a_server_error`, `status_code_conformance`, `content_type_conformance`
and `response_schema_conformance`. Its generated times found the filters PostgreSQL refuses
(core/timestamps.py); core/schema.py puts the error answers in the schema. Derandomized
(Hypothesis derives the seed from the test) with FUZZ_MAX_EXAMPLES per operation: the same
requests on every run, within about three minutes on a two-core machine.

Each request runs in a savepoint rolled back after it, so a request sees the seeded rows and
never another request's, and a database error stays in its own request (as a 500) instead of
poisoning the rest of the test's transaction.
"""

import json
import os

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.test import RequestFactory
from django.urls import resolve
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from cameras.services import device_create, user_token_issue
from cameras.tests.factories import CameraFactory, ZoneFactory

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "75"))


@pytest.fixture
def wsgi_application():
    """The production WSGI application, on the test's connection: like Django's test client,
    it must not close the connection when a request ends (that would end the test's
    transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def camera_with_zone(db, settings):
    """A camera (external id 1) with a zone, so reads and filters reach past their lookups."""
    settings.INGEST_THROTTLE_RATE = ""  # a 429 would hide what a device's request reaches
    camera = CameraFactory(slug="north-gate", external_id="1")
    ZoneFactory(camera=camera, name="Entry lane")
    return camera


@pytest.fixture
def admin_headers(admin_user, camera_with_zone):
    return {"Authorization": f"Bearer {user_token_issue(user=admin_user, name='fuzz').key}"}


@pytest.fixture
def device_headers(camera_with_zone):
    _, issued = device_create(name="fuzz-box", cameras=[camera_with_zone])
    return {"Authorization": f"Token {issued.key}"}


def _live_schema() -> dict:
    """What GET /api/schema/ answers, asked of its view in-process (no database needed, so
    the operations are known when pytest collects: one test per operation)."""
    request = RequestFactory().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    response = resolve("/api/schema/").func(request)
    response.render()
    return json.loads(response.content)


# POST /api/exporters/{id}/test/ sends a request to the exporter's URL: a fuzzer must not send
# traffic off this machine (exporters/tests cover it against a local receiver).
schema = schemathesis.openapi.from_dict(_live_schema()).exclude(path="/api/exporters/{id}/test/")
# The schema's examples, then generated requests. Not the coverage phase: its ~150 fixed
# requests per operation cost as much time as the fuzzing, which found what it did not.
schema.config.phases.update(phases=["examples", "fuzzing"])
#: What only a device may call (anyone else gets a 403 before anything runs): the device
#: fuzzes these, the admin the rest.
DEVICE_PATHS = r"^/api/(events/ingest/|ingest/|devices/me/config/)"
fuzzed = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)


#: No 5xx, and every answer is one the schema lists: its status, its Content-Type, its body.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _call(case, application, headers):
    # Uncompressed: the in-process WSGI client does not undo GZipMiddleware, and the checks
    # read the body.
    headers = {**headers, "Accept-Encoding": "identity"}
    with transaction.atomic():
        case.call_and_validate(app=application, headers=headers, checks=CHECKS)
        transaction.set_rollback(True)


@schema.exclude(path_regex=DEVICE_PATHS).parametrize()
@fuzzed
def test_every_answer_to_an_admin_conforms_to_the_schema(case, wsgi_application, admin_headers):
    _call(case, wsgi_application, admin_headers)


@schema.include(path_regex=DEVICE_PATHS).parametrize()
@fuzzed
def test_every_answer_to_a_device_conforms_to_the_schema(case, wsgi_application, device_headers):
    _call(case, wsgi_application, device_headers)
