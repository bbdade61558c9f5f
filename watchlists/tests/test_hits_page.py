"""The hits page without a browser: who may open it, who gets the acknowledgement controls,
and the API calls it makes (reject reasons, the read's plate crop, the 409 naming who).
(The browser test drives it.)"""

import json
import re

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.utils import timezone

from events.tests.factories import PlateEventFactory
from events.tests.images import image_bytes
from watchlists.models import Hit

from .factories import RejectReasonFactory, WatchlistFactory

pytestmark = pytest.mark.django_db


def _config(page: str) -> dict:
    found = re.search(r'id="hits-config"[^>]*>(.*?)</script>', page, re.S)
    return json.loads(found.group(1))


def make_hit(camera, **fields):
    values = {"subject": "x", "plate": "ABC123", "captured_at": timezone.now(), "snapshot": {}}
    values.update(fields)
    return Hit.objects.create(watchlist=WatchlistFactory(), camera=camera, **values)


def test_anonymous_is_sent_to_sign_in_and_devices_are_not_users(client, device_with_key):
    response = client.get("/hits/?status=any")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/hits/")
    _, key = device_with_key
    assert client.get("/hits/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 302


def test_a_user_who_may_not_view_hits_is_refused_and_not_offered_the_page(
    client, django_user_model
):
    reader = django_user_model.objects.create_user(username="reads-only", password="x-for-tests")
    reader.user_permissions.add(Permission.objects.get(codename="view_plateevent"))
    client.force_login(reader)
    assert client.get("/hits/").status_code == 403
    assert 'href="/hits/"' not in client.get("/search/").content.decode()


def test_viewers_see_the_page_without_acknowledgement_controls(client, viewer):
    client.force_login(viewer)
    page = client.get("/hits/").content.decode()
    assert re.search(r'<a href="/hits/" aria-current="page">Hits</a>', page)
    config = _config(page)
    assert config["canAcknowledge"] is False and config["canViewReads"] is True
    assert config["api"]["hits"] == "/api/hits/"


def test_operators_get_the_controls(client, operator):
    client.force_login(operator)
    config = _config(client.get("/hits/").content.decode())
    assert config["canAcknowledge"] is True
    assert ["open", "Open"] in config["statuses"]
    assert ["stolen_vehicle", "Stolen vehicle"] in config["categories"]


def test_the_page_loads_only_files_from_this_server(client, viewer):
    client.force_login(viewer)
    page = client.get("/hits/").content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/static/hits/hits.js" in assets and "/static/hits/hits.css" in assets
    for asset in assets:
        assert asset.startswith("/") or asset == "", f"the hits page loads {asset}"
        if asset.startswith("/static/"):
            assert client.get(asset).status_code == 200, asset


def test_reject_reasons_list_the_active_ones_to_users_who_see_hits(
    api_client, device_client, viewer_client
):
    RejectReasonFactory(code="misread", label="Misread")
    RejectReasonFactory(code="old", label="Old", active=False)
    assert api_client.get("/api/hits/reject-reasons/").status_code in (401, 403)
    assert device_client.get("/api/hits/reject-reasons/").status_code in (401, 403)
    response = viewer_client.get("/api/hits/reject-reasons/")
    assert response.status_code == 200
    assert response.json() == [{"code": "misread", "label": "Misread"}]


def test_a_hit_carries_its_cameras_name_and_its_reads_plate_crop_while_it_exists(
    viewer_client, camera
):
    event = PlateEventFactory(camera=camera)
    event.plate_image.save("crop.jpg", ContentFile(image_bytes()), save=True)
    hit = make_hit(camera, event=event)
    shown = viewer_client.get(f"/api/hits/{hit.pk}/").json()
    assert shown["camera_name"] == camera.name
    assert shown["plate_image_url"].endswith(f"/api/events/{event.pk}/images/plate/")
    assert viewer_client.get(shown["plate_image_url"]).status_code == 200
    event.delete()
    assert viewer_client.get(f"/api/hits/{hit.pk}/").json()["plate_image_url"] is None


def test_a_second_acknowledgement_says_who_was_first(operator_client, operator, camera):
    hit = make_hit(camera)
    url = f"/api/hits/{hit.pk}/acknowledge/"
    assert operator_client.post(url, {"outcome": "accepted"}, format="json").status_code == 200
    second = operator_client.post(url, {"outcome": "no_action"}, format="json")
    assert second.status_code == 409
    assert second.json()["detail"] == f"This hit was already acknowledged by {operator.username}."
