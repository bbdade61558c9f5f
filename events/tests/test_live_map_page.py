"""The live map page (the home page) without a browser: who may open it, what it loads."""

import json
import re

import pytest

from cameras.tests.factories import CameraFactory, SensorSettingsFactory

pytestmark = pytest.mark.django_db


def test_anonymous_is_sent_to_the_sign_in_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/")


def test_a_viewer_signs_in_on_the_page_and_lands_on_the_map(client, viewer):
    page = client.get("/login/?next=/")
    assert page.status_code == 200
    credentials = {"username": viewer.username, "password": "pw-for-tests-only", "next": "/"}
    response = client.post("/login/?next=/", credentials)
    assert response.status_code == 302 and response["Location"] == "/"
    page = client.get("/").content.decode()
    assert 'id="map"' in page and 'href="/api/docs/"' in page


def test_a_wrong_password_does_not_sign_in(client, viewer):
    response = client.post("/login/", {"username": viewer.username, "password": "wrong"})
    assert response.status_code == 200
    assert client.get("/").status_code == 302


def test_a_user_without_a_role_is_refused(client, django_user_model):
    nobody = django_user_model.objects.create_user(username="norole", password="x-for-tests")
    client.force_login(nobody)
    assert client.get("/").status_code == 403


def test_the_page_loads_only_files_from_this_server_except_tiles(client, viewer, settings):
    settings.MAP_TILE_URL = "https://tiles.example.test/{z}/{x}/{y}.png"
    client.force_login(viewer)
    page = client.get("/").content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    for asset in assets:
        assert asset.startswith("/"), f"the live map loads {asset} from elsewhere"
        if asset.startswith("/static/"):
            assert client.get(asset).status_code == 200, asset
    config = json.loads(re.search(r'id="live-config"[^>]*>(.*?)</script>', page, re.S).group(1))
    assert config["tileUrl"] == settings.MAP_TILE_URL


def test_offline_threshold_follows_the_shortest_enabled_heartbeat(client, viewer, settings):
    settings.CAMERA_OFFLINE_AFTER_HEARTBEATS = 3
    camera, plain = CameraFactory(), CameraFactory()
    SensorSettingsFactory(camera=camera, heartbeat_interval_s=20)
    SensorSettingsFactory(camera=camera, heartbeat_interval_s=10, enabled=False)
    SensorSettingsFactory(camera=camera, heartbeat_interval_s=40)
    client.force_login(viewer)
    page = client.get("/").content.decode()
    config = json.loads(re.search(r'id="live-config"[^>]*>(.*?)</script>', page, re.S).group(1))
    assert config["offlineAfter"] == {str(camera.pk): 60}
    assert str(plain.pk) not in config["offlineAfter"]
    assert config["defaultOfflineAfter"] == 180
