"""The live map page's hits panel, without a browser: shown to those who may view hits only."""

import json
import re

import pytest
from django.contrib.auth.models import Group, Permission

pytestmark = pytest.mark.django_db


def page_of(client, user):
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    text = response.content.decode()
    config = json.loads(re.search(r'id="live-config"[^>]*>(.*?)</script>', text, re.S).group(1))
    return text, config


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_users_who_may_view_hits_get_the_panel_the_sound_toggle_and_the_script(
    client, request, role
):
    text, config = page_of(client, request.getfixturevalue(role))
    assert 'id="hits-panel"' in text and 'id="hit-sound"' in text and 'id="hit-toasts"' in text
    assert "live/live_hits.js" in text
    assert config["kinds"]["hit"] == {"api": "/api/hits/", "page": "/hits/?id=", "openShown": 50}


def test_a_user_who_sees_reads_but_not_hits_gets_no_hits_panel(client, django_user_model):
    group = Group.objects.create(name="reads-only")
    group.permissions.add(Permission.objects.get(codename="view_plateevent"))
    user = django_user_model.objects.create_user(username="reads-only", password="x")
    user.groups.add(group)
    text, config = page_of(client, user)
    assert "hits-panel" not in text and "live_hits.js" not in text and "hit-toasts" not in text
    assert config["kinds"] == {}


def test_anonymous_users_and_devices_get_no_page(client, device_with_key):
    assert client.get("/").status_code == 302
    _, key = device_with_key
    response = client.get("/", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 302 and "hits" not in response.content.decode()
