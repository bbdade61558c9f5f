"""The operators' pages' shared layout: what the top bar offers each role, where signing in
lands, the icon."""

import pytest

pytestmark = pytest.mark.django_db


def test_signing_in_without_next_lands_on_the_map(client, viewer):
    credentials = {"username": viewer.username, "password": "pw-for-tests-only"}
    response = client.post("/login/", credentials)
    assert response.status_code == 302 and response["Location"] == "/"
    assert 'id="map"' in client.get("/").content.decode()


def test_the_top_bar_lists_the_pages_and_marks_the_open_one(client, viewer):
    client.force_login(viewer)
    page = client.get("/").content.decode()
    assert '<a href="/" aria-current="page">Live map</a>' in page


def test_the_console_link_is_offered_to_staff_only(client, viewer, staff_viewer):
    client.force_login(viewer)
    assert 'href="/admin/"' not in client.get("/").content.decode()
    client.force_login(staff_viewer)
    assert 'href="/admin/"' in client.get("/").content.decode()


def test_a_page_is_listed_only_for_users_with_its_permission(rf, viewer, django_user_model):
    from core.pages import (
        OperatorPage,
        operator_page_register,
        operator_page_unregister,
        operator_pages_for,
    )

    nobody = django_user_model.objects.create_user(username="norole", password="x-for-tests")
    page = OperatorPage(
        url_name="admin:index", label="Secret", order=99, permission="auth.view_user"
    )
    operator_page_register(page)
    try:
        assert "Secret" not in [entry["label"] for entry in operator_pages_for(user=viewer)]
        assert operator_pages_for(user=nobody) == []
    finally:
        operator_page_unregister("admin:index")


def test_the_site_has_an_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert client.get(response["Location"]).status_code == 200
