"""Health endpoints and the API docs a newcomer opens."""

import re

import pytest
from django.core.management import call_command


def test_health_and_liveness_answer_without_a_database(client):
    for path in ("/health", "/liveness"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_ready_when_the_database_answers(client, settings):
    settings.REDIS_URL = ""
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok"}


@pytest.mark.django_db
def test_ready_is_503_naming_redis_when_redis_does_not_answer(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert "ConnectionError" in body["checks"]["redis"]


def test_home_page_links_the_console_and_docs(client, admin_user):
    client.force_login(admin_user)
    page = client.get("/", follow=True).content.decode()
    assert 'href="/admin/"' in page and 'href="/api/docs/"' in page


def test_openapi_schema_validates_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert "/api/cameras/" in target.read_text()


@pytest.mark.django_db
def test_swagger_ui_and_redoc_load_only_files_from_this_server(client, admin_user):
    client.force_login(admin_user)
    for path in ("/api/docs/", "/api/redoc/"):
        page = client.get(path).content.decode()
        assets = re.findall(r'(?:src|href)="([^"]+)"', page)
        assert assets, page
        for asset in assets:
            assert asset.startswith("/"), f"{path} loads {asset} from elsewhere"
            if asset.startswith("/static/"):
                assert client.get(asset).status_code == 200, asset
