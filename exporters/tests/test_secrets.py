"""An exporter's secrets (its secret, header values, the URL's query) are write-only for every
role, in the API and the admin; masks sent back keep them; a new destination drops them."""

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from core.masking import MASK
from exporters.models import ExporterConfig
from exporters.tests.sink import Reply, Sink

pytestmark = pytest.mark.django_db

URL = "/api/exporters/"
CHANGELIST = "/admin/exporters/exporterconfig/"
SECRET = "hmac-secret-never-shown-4711"
API_KEY = "x-api-key-value-never-shown-0815"
QUERY_TOKEN = "query-token-never-shown-1234"
HIDDEN = (SECRET, API_KEY, QUERY_TOKEN)


@pytest.fixture
def exporter(exporter_factory, sink):
    return exporter_factory(
        name="barrier",
        url=f"{sink.url}?token={QUERY_TOKEN}",
        auth_type="hmac",
        secret=SECRET,
        headers={"X-Api-Key": API_KEY, "X-Site": "north-gate"},
    )


@pytest.fixture
def other_sink():
    server = Sink()
    yield server
    server.stop()


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _assert_hidden(text: str) -> None:
    for value in HIDDEN:
        assert value not in text


# --- API -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "operator", "admin_user"])
def test_every_role_reads_only_masks(request, exporter, sink, role):
    client = _api(request.getfixturevalue(role))
    listed = client.get(URL)
    detail = client.get(f"{URL}{exporter.pk}/")
    assert listed.status_code == detail.status_code == 200
    _assert_hidden(listed.content.decode() + detail.content.decode())
    data = detail.json()
    assert data["url"] == f"{sink.url}?{MASK}"
    assert data["headers"] == {"X-Api-Key": MASK, "X-Site": MASK}
    assert data["has_secret"] is True and "secret" not in data


def test_anonymous_and_devices_read_nothing(api_client, device_client, exporter):
    for client, status in ((api_client, 401), (device_client, 403)):
        for path in (URL, f"{URL}{exporter.pk}/"):
            response = client.get(path)
            assert response.status_code == status
            _assert_hidden(response.content.decode())


def test_what_an_answer_shows_sent_back_unchanged_keeps_the_stored_values(
    operator_client, exporter
):
    path = f"{URL}{exporter.pk}/"
    shown = operator_client.get(path).json()
    body = {k: v for k, v in shown.items() if k not in ("id", "has_secret")}
    body["name"] = "barrier-renamed"
    put = operator_client.put(path, body, format="json")
    assert put.status_code == 200, put.json()
    patched = operator_client.patch(
        path, {"url": shown["url"], "headers": shown["headers"], "secret": MASK}, format="json"
    )
    assert patched.status_code == 200, patched.json()
    stored = ExporterConfig.objects.get()
    assert stored.name == "barrier-renamed"
    assert stored.url == exporter.url and stored.secret == SECRET
    assert stored.headers == {"X-Api-Key": API_KEY, "X-Site": "north-gate"}


def test_a_masked_header_value_can_sit_next_to_a_changed_one(operator_client, exporter):
    path = f"{URL}{exporter.pk}/"
    headers = {"X-Api-Key": MASK, "X-Site": "south-gate", "X-New": "new-value"}
    assert operator_client.patch(path, {"headers": headers}, format="json").status_code == 200
    stored = ExporterConfig.objects.get()
    assert stored.headers == {"X-Api-Key": API_KEY, "X-Site": "south-gate", "X-New": "new-value"}


@pytest.mark.parametrize(
    "new_url",
    [
        "http://localhost:{port}/hook?{mask}",  # another host
        "http://127.0.0.1:{other}/hook?{mask}",  # another port
        "https://127.0.0.1:{port}/hook?{mask}",  # another scheme
    ],
)
def test_a_new_destination_drops_the_secret_header_values_and_query(
    operator_client, exporter, sink, other_sink, new_url
):
    new_url = new_url.format(port=sink.port, other=other_sink.port, mask=MASK)
    response = operator_client.patch(
        f"{URL}{exporter.pk}/",
        {"url": new_url, "auth_type": "none", "headers": {"X-Api-Key": MASK, "X-Site": MASK}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    stored = ExporterConfig.objects.get()
    assert stored.secret == "" and response.json()["has_secret"] is False
    assert stored.headers == {"X-Api-Key": "", "X-Site": ""}
    assert stored.url == new_url.split("?")[0]
    assert response.json()["headers"] == {"X-Api-Key": "", "X-Site": ""}


def test_a_new_host_without_the_headers_in_the_request_drops_their_values(
    operator_client, exporter, other_sink
):
    response = operator_client.patch(
        f"{URL}{exporter.pk}/", {"url": other_sink.url, "auth_type": "none"}, format="json"
    )
    assert response.status_code == 200, response.json()
    stored = ExporterConfig.objects.get()
    assert stored.secret == "" and stored.headers == {"X-Api-Key": "", "X-Site": ""}


def test_a_new_host_when_the_authentication_needs_the_secret_asks_for_a_new_one(
    operator_client, exporter, other_sink
):
    response = operator_client.patch(f"{URL}{exporter.pk}/", {"url": other_sink.url}, format="json")
    assert response.status_code == 400 and "secret" in response.json()["errors"]
    stored = ExporterConfig.objects.get()
    assert stored.url == exporter.url and stored.secret == SECRET


def test_a_new_host_with_new_values_keeps_the_new_ones(operator_client, exporter, other_sink):
    new_url = f"{other_sink.url}?token=new-token"
    response = operator_client.patch(
        f"{URL}{exporter.pk}/",
        {"url": new_url, "secret": "new-secret", "headers": {"X-Api-Key": "new-key"}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    stored = ExporterConfig.objects.get()
    assert stored.url == new_url and stored.secret == "new-secret"
    assert stored.headers == {"X-Api-Key": "new-key"}


def test_test_after_a_new_host_sends_no_old_secret(operator_client, exporter, sink, other_sink):
    path = f"{URL}{exporter.pk}/"
    moved = operator_client.patch(
        path, {"url": f"{other_sink.url}?{MASK}", "auth_type": "none"}, format="json"
    )
    assert moved.status_code == 200, moved.json()
    result = operator_client.post(f"{path}test/").json()
    assert result["ok"] is True, result
    [request] = other_sink.received
    assert sink.received == []
    assert "X-ANPR-Signature" not in request.headers
    assert "Authorization" not in request.headers
    assert request.headers.get("X-Api-Key", "") == ""
    assert request.path == "/hook"
    _assert_hidden(str(request.headers) + request.path + request.body.decode())


def test_a_refused_move_leaves_test_sending_to_the_old_receiver(
    operator_client, exporter, sink, other_sink
):
    path = f"{URL}{exporter.pk}/"
    assert operator_client.patch(path, {"url": other_sink.url}, format="json").status_code == 400
    assert operator_client.post(f"{path}test/").json()["ok"] is True
    assert other_sink.received == [] and len(sink.received) == 1


def test_a_receiver_echoing_the_query_or_a_header_does_not_leak_them(
    operator_client, exporter, sink
):
    sink.replies = [Reply(400, body=f"bad token {QUERY_TOKEN} for key {API_KEY}".encode())]
    result = operator_client.post(f"{URL}{exporter.pk}/test/")
    detail = operator_client.get(f"{URL}{exporter.pk}/")
    assert result.json()["ok"] is False and "bad token" in result.json()["error"]
    _assert_hidden(result.content.decode() + detail.content.decode())


# --- Admin ---------------------------------------------------------------------------------


def _console(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("role", ["staff_viewer", "operator", "admin_user"])
def test_the_admin_shows_every_role_only_masks(request, exporter, role):
    console = _console(request.getfixturevalue(role))
    page = console.get(f"{CHANGELIST}{exporter.pk}/change/")
    listed = console.get(CHANGELIST)
    assert page.status_code == listed.status_code == 200
    html = page.content.decode()
    _assert_hidden(html + listed.content.decode())
    assert MASK in html and "X-Api-Key" in html


def test_a_view_only_user_sees_that_the_secret_is_set(staff_viewer, exporter):
    html = _console(staff_viewer).get(f"{CHANGELIST}{exporter.pk}/change/").content.decode()
    assert '<div class="readonly">set</div>' in html
    assert f"X-Api-Key: {MASK}" in html and f"X-Site: {MASK}" in html
    assert 'name="secret"' not in html  # nothing to edit


def _form(exporter, **overrides) -> dict:
    form = {
        "name": exporter.name,
        "kind": "webhook",
        "enabled": "on",
        "url": exporter.url.replace(f"token={QUERY_TOKEN}", MASK),
        "method": "POST",
        "headers": f'{{"X-Api-Key": "{MASK}", "X-Site": "{MASK}"}}',
        "payload_format": "json",
        "batch_size": 1,
        "auth_type": "hmac",
        "username": "",
        "secret": "",
        "send": '["reads"]',
        "timeout_seconds": 5,
        "max_attempts": 4,
        "deliveries-TOTAL_FORMS": 0,
        "deliveries-INITIAL_FORMS": 0,
    }
    form.update(overrides)
    return form


def test_saving_the_admin_form_with_its_masks_keeps_the_stored_values(operator, exporter):
    response = _console(operator).post(f"{CHANGELIST}{exporter.pk}/change/", _form(exporter))
    assert response.status_code == 302, response.content.decode()[:3000]
    stored = ExporterConfig.objects.get()
    assert stored.url == exporter.url and stored.secret == SECRET
    assert stored.headers == {"X-Api-Key": API_KEY, "X-Site": "north-gate"}


def test_the_admin_drops_the_secrets_on_a_new_host(operator, exporter, other_sink):
    form = _form(exporter, url=f"{other_sink.url}?{MASK}", auth_type="none")
    response = _console(operator).post(f"{CHANGELIST}{exporter.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    stored = ExporterConfig.objects.get()
    assert stored.url == other_sink.url and stored.secret == ""
    assert stored.headers == {"X-Api-Key": "", "X-Site": ""}


def test_the_admin_asks_for_a_new_secret_on_a_new_host(operator, exporter, other_sink):
    form = _form(exporter, url=other_sink.url)
    response = _console(operator).post(f"{CHANGELIST}{exporter.pk}/change/", form)
    assert response.status_code == 200 and "needs a secret" in response.content.decode()
    assert ExporterConfig.objects.get().secret == SECRET


def test_the_admin_keeps_new_values_given_with_a_new_host(operator, exporter, other_sink):
    form = _form(
        exporter,
        url=other_sink.url,
        secret="new-secret",
        headers=json.dumps({"X-Api-Key": "new-key", "X-Site": MASK}),
    )
    response = _console(operator).post(f"{CHANGELIST}{exporter.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    stored = ExporterConfig.objects.get()
    assert stored.secret == "new-secret"
    assert stored.headers == {"X-Api-Key": "new-key", "X-Site": ""}
