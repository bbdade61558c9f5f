"""A camera's stream credentials (user name, password, the stream URL's query) are write-only
for every role in the API and the admin, exactly like an exporter's secrets: masks sent back
keep them, a new destination drops them, and only the camera's own device receives them."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from cameras.models import Camera
from core.masking import MASK

pytestmark = pytest.mark.django_db

URL = "/api/cameras/"
ADMIN = "/admin/cameras/camera/"
USERNAME = "stream-user-hidden"
PASSWORD = "stream-pass-hidden-4711"
TOKEN = "stream-query-token-hidden"
HIDDEN = (USERNAME, PASSWORD, TOKEN)
STREAM = f"rtsp://10.0.0.5:554/stream1?token={TOKEN}"


@pytest.fixture
def camera(db):
    from cameras.tests.factories import CameraFactory

    return CameraFactory(
        stream_url=STREAM, stream_username=USERNAME, stream_password=PASSWORD, metadata={}
    )


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _console(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _assert_hidden(text: str) -> None:
    for value in HIDDEN:
        assert value not in text


def _stored() -> Camera:
    return Camera.objects.get()


# --- API -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "operator", "admin_user"])
def test_every_role_reads_only_masks(request, camera, role):
    client = _api(request.getfixturevalue(role))
    listed, detail = client.get(URL), client.get(f"{URL}{camera.pk}/")
    assert listed.status_code == detail.status_code == 200
    _assert_hidden(listed.content.decode() + detail.content.decode())
    assert detail.json()["stream_url"] == f"rtsp://10.0.0.5:554/stream1?{MASK}"
    assert detail.json()["has_stream_credentials"] is True


def test_anonymous_reads_nothing_and_a_device_only_its_own_config(
    api_client, device_client, camera, device_with_key
):
    device, _ = device_with_key
    device.cameras.set([camera])
    assert api_client.get(URL).status_code == 401
    assert device_client.get(URL).status_code == 403
    pulled = device_client.get("/api/devices/me/config/").json()
    [config] = [c for c in pulled["cameras"] if c["slug"] == camera.slug]
    assert (
        config["stream_url"] == f"rtsp://{USERNAME}:{PASSWORD}@10.0.0.5:554/stream1?token={TOKEN}"
    )


def test_what_an_answer_shows_sent_back_unchanged_keeps_the_stored_values(operator_client, camera):
    path = f"{URL}{camera.pk}/"
    shown = operator_client.get(path).json()
    body = {k: v for k, v in shown.items() if v is not None and k not in ("id", "zones")}
    body["name"] = "Renamed"
    response = operator_client.put(path, body, format="json")
    assert response.status_code == 200, response.json()
    masked = {"stream_url": shown["stream_url"], "stream_username": MASK, "stream_password": MASK}
    assert operator_client.patch(path, masked, format="json").status_code == 200
    stored = _stored()
    assert stored.name == "Renamed" and stored.stream_url == STREAM
    assert (stored.stream_username, stored.stream_password) == (USERNAME, PASSWORD)


@pytest.mark.parametrize(
    "new_url",
    ["rtsp://203.0.113.9:554/stream1?{mask}", "rtsp://10.0.0.5:8554/stream1", "rtsps://10.0.0.5/s"],
)
def test_a_new_destination_drops_the_credentials_and_query(operator_client, camera, new_url):
    new_url = new_url.format(mask=MASK)
    response = operator_client.patch(
        f"{URL}{camera.pk}/", {"stream_url": new_url, "stream_password": MASK}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["has_stream_credentials"] is False
    stored = _stored()
    assert stored.stream_url == new_url.split("?")[0]
    assert stored.stream_username == stored.stream_password == ""
    assert stored.stream_url_with_credentials() == stored.stream_url


def test_a_new_destination_with_new_credentials_keeps_the_new_ones(operator_client, camera):
    response = operator_client.patch(
        f"{URL}{camera.pk}/",
        {"stream_url": "rtsp://new-user:new-pass@203.0.113.9/live?key=new"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    stored = _stored()
    assert stored.stream_url == "rtsp://203.0.113.9/live?key=new"
    assert (stored.stream_username, stored.stream_password) == ("new-user", "new-pass")


# --- Admin ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["staff_viewer", "operator", "admin_user"])
def test_the_admin_page_shows_every_role_only_masks(request, camera, role):
    console = _console(request.getfixturevalue(role))
    page = console.get(f"{ADMIN}{camera.pk}/change/")
    assert page.status_code == 200  # a view-only user got a 500 (KeyError: 'stream_password')
    listed = console.get(ADMIN)
    assert listed.status_code == 200
    _assert_hidden(page.content.decode() + listed.content.decode())
    assert MASK in page.content.decode()


def _form_as_shown(console, camera, **overrides) -> dict:
    """The change form's fields as the page fills them in, with `overrides` typed over them."""
    page = console.get(f"{ADMIN}{camera.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update({management.add_prefix(k): v for k, v in management.initial.items()})
    data.update(overrides)
    return {name: "" if value is None else value for name, value in data.items()}


def test_saving_the_admin_form_as_shown_keeps_the_stored_values(operator, camera):
    console = _console(operator)
    form = _form_as_shown(console, camera, name="Renamed")
    assert form["stream_username"] == MASK and form["stream_password"] == ""
    response = console.post(f"{ADMIN}{camera.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    stored = _stored()
    assert stored.name == "Renamed" and stored.stream_url == STREAM
    assert (stored.stream_username, stored.stream_password) == (USERNAME, PASSWORD)


def test_the_admin_drops_the_credentials_on_a_new_host(operator, camera):
    console = _console(operator)
    form = _form_as_shown(console, camera, stream_url=f"rtsp://203.0.113.9:554/stream1?{MASK}")
    response = console.post(f"{ADMIN}{camera.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    stored = _stored()
    assert stored.stream_url == "rtsp://203.0.113.9:554/stream1"
    assert stored.stream_username == stored.stream_password == ""


def test_the_admin_keeps_new_credentials_given_with_a_new_host(operator, camera):
    console = _console(operator)
    form = _form_as_shown(
        console,
        camera,
        stream_url="rtsp://203.0.113.9/live",
        stream_username="new-user",
        stream_password="new-pass",
    )
    response = console.post(f"{ADMIN}{camera.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    stored = _stored()
    assert (stored.stream_username, stored.stream_password) == ("new-user", "new-pass")
