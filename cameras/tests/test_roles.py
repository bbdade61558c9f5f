"""The three roles are groups kept current by migrate and `manage.py setup_roles`."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from rest_framework.test import APIClient

from cameras.models import UserApiToken
from cameras.services import user_token_issue, user_token_revoke

pytestmark = pytest.mark.django_db


def test_setup_roles_is_idempotent():
    before = {g.name: g.permissions.count() for g in Group.objects.all()}
    assert set(before) >= {"viewer", "operator", "admin"}
    call_command("setup_roles")
    call_command("setup_roles")
    after = {g.name: g.permissions.count() for g in Group.objects.all()}
    assert after == before
    assert Group.objects.filter(name="viewer").count() == 1


def test_viewer_only_views_and_operator_cannot_edit_reported_events(viewer, operator):
    assert viewer.has_perm("cameras.view_camera")
    assert not viewer.has_perm("cameras.change_camera")
    assert operator.has_perm("cameras.change_camera")
    assert operator.has_perm("events.view_plateevent")
    assert not operator.has_perm("events.change_plateevent")


def test_bearer_token_authenticates_a_script_until_revoked(viewer, camera):
    issued = user_token_issue(user=viewer, name="reporting script")
    assert UserApiToken.objects.get().digest != issued.key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.key}")
    response = client.get("/api/cameras/")
    assert response.status_code == 200
    assert response.json()["results"][0]["slug"] == camera.slug

    user_token_revoke(token=issued.record)
    refused = client.get("/api/cameras/")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == "Bearer"
