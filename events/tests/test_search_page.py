"""The search page without a browser: who may open it, that its form offers every filter of
the API, that it loads nothing from elsewhere. (The browser test drives it.)"""

import json
import re

import pytest

from events.filters import PlateEventFilter

pytestmark = pytest.mark.django_db


def _config(page: str) -> dict:
    found = re.search(r'id="search-config"[^>]*>(.*?)</script>', page, re.S)
    return json.loads(found.group(1))


def test_anonymous_is_sent_to_sign_in_and_devices_are_not_users(client, device_with_key):
    response = client.get("/search/?q=AB12")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/search/")
    _, key = device_with_key
    with_key = client.get("/search/", HTTP_AUTHORIZATION=f"Token {key}")
    assert with_key.status_code == 302  # a device key is no session


def test_a_user_without_a_role_is_refused(client, django_user_model):
    nobody = django_user_model.objects.create_user(username="norole", password="x-for-tests")
    client.force_login(nobody)
    assert client.get("/search/").status_code == 403


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_viewers_and_operators_get_the_page_listed_in_the_top_bar(client, role, request):
    client.force_login(request.getfixturevalue(role))
    page = client.get("/search/").content.decode()
    assert 'id="results"' in page and 'id="export"' in page
    assert re.search(r'<a href="/search/" aria-current="page">Search</a>', page)
    assert '<a href="/">Live map</a>' in client.get("/search/").content.decode()


def test_the_form_offers_every_filter_of_the_api(client, viewer):
    client.force_login(viewer)
    config = _config(client.get("/search/").content.decode())
    fields = {field["name"]: field for field in config["filters"]}
    assert set(fields) == set(PlateEventFilter.base_filters)
    assert fields["camera"]["kind"] == "cameras" and fields["zone"]["kind"] == "zones"
    assert fields["since"]["kind"] == "time" and fields["min_confidence"]["kind"] == "number"
    assert ["truck", "Truck"] in fields["vehicle_type"]["choices"]
    assert fields["q"]["hint"].startswith("OCR-tolerant")
    assert config["api"]["events"] == "/api/events/"


def test_the_page_loads_only_files_from_this_server(client, viewer):
    client.force_login(viewer)
    page = client.get("/search/").content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/static/search/search.js" in assets and "/static/search/search.css" in assets
    for asset in assets:
        assert asset.startswith("/") or asset == "", f"the search page loads {asset}"
        if asset.startswith("/static/"):
            assert client.get(asset).status_code == 200, asset
