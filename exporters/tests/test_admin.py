"""The console: the secret is never rendered, recent deliveries show inline, and the actions
test, enable, disable and redeliver dead do what they say."""

import pytest
from django.test import Client
from django.utils import timezone

from events.tests.factories import PlateEventFactory
from exporters.models import ExportDelivery, ExporterConfig

pytestmark = pytest.mark.django_db

SECRET = "admin-never-shows-this-1234"
CHANGELIST = "/admin/exporters/exporterconfig/"


@pytest.fixture
def console(operator):
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def exporter(exporter_factory):
    exporter = exporter_factory(name="barrier", auth_type="bearer", secret=SECRET)
    for status in ("delivered", "dead"):
        delivery = ExportDelivery.objects.create(
            exporter=exporter, status=status, next_attempt_at=timezone.now()
        )
        delivery.events.add(PlateEventFactory())
    return exporter


def _act(console, action, exporter):
    return console.post(
        CHANGELIST, {"action": action, "_selected_action": [exporter.pk]}, follow=True
    )


def test_the_change_page_never_renders_the_secret_and_shows_recent_deliveries(console, exporter):
    page = console.get(f"{CHANGELIST}{exporter.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert SECRET not in html
    assert "recent deliveries" in html.lower()
    for delivery in ExportDelivery.objects.all():
        assert str(delivery.pk) in html


def test_saving_without_typing_the_secret_keeps_it(console, exporter, sink):
    form = {
        "name": "barrier-2",
        "kind": "webhook",
        "enabled": "on",
        "url": sink.url,
        "method": "POST",
        "headers": "{}",
        "payload_format": "json",
        "batch_size": 1,
        "auth_type": "bearer",
        "username": "",
        "secret": "",
        "send": '["reads"]',
        "timeout_seconds": 5,
        "max_attempts": 4,
        "deliveries-TOTAL_FORMS": 0,
        "deliveries-INITIAL_FORMS": 0,
    }
    response = console.post(f"{CHANGELIST}{exporter.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    exporter.refresh_from_db()
    assert exporter.name == "barrier-2" and exporter.secret == SECRET


def test_the_admin_refuses_what_the_api_refuses(console, sink):
    form = {
        "name": "bad",
        "kind": "webhook",
        "url": "ftp://example.com/x",
        "method": "POST",
        "headers": "{}",
        "payload_format": "json",
        "batch_size": 1,
        "auth_type": "hmac",
        "send": '["reads"]',
        "timeout_seconds": 5,
        "max_attempts": 4,
        "deliveries-TOTAL_FORMS": 0,
        "deliveries-INITIAL_FORMS": 0,
    }
    response = console.post(f"{CHANGELIST}add/", form)
    assert response.status_code == 200
    html = response.content.decode()
    assert "needs a secret" in html
    assert not ExporterConfig.objects.exists()


def test_actions_disable_enable_test_and_redeliver_dead(console, exporter, sink):
    _act(console, "disable", exporter)
    exporter.refresh_from_db()
    assert exporter.enabled is False
    _act(console, "enable", exporter)
    exporter.refresh_from_db()
    assert exporter.enabled is True

    page = _act(console, "send_test", exporter).content.decode()
    assert "HTTP 200" in page
    [request] = sink.received
    assert request.headers["Authorization"] == f"Bearer {SECRET}"
    assert SECRET not in page

    _act(console, "redeliver_dead", exporter)
    statuses = sorted(ExportDelivery.objects.values_list("status", flat=True))
    assert statuses == ["delivered", "pending"]


def test_a_viewer_cannot_open_the_console(viewer, exporter):
    client = Client()
    client.force_login(viewer)
    response = client.get(f"{CHANGELIST}{exporter.pk}/change/")
    assert response.status_code == 302 and "/login" in response["Location"]


def test_the_admin_refuses_a_bad_send_naming_it(console, sink):
    form = {
        "name": "bad-send",
        "kind": "webhook",
        "url": sink.url,
        "method": "POST",
        "headers": "{}",
        "payload_format": "json",
        "batch_size": 1,
        "auth_type": "none",
        "send": '["reads", "reads"]',
        "timeout_seconds": 5,
        "max_attempts": 4,
        "deliveries-TOTAL_FORMS": 0,
        "deliveries-INITIAL_FORMS": 0,
    }
    response = console.post(f"{CHANGELIST}add/", form)
    assert response.status_code == 200
    assert "Name each one once" in response.content.decode()
    form["send"] = '["hits"]'
    assert console.post(f"{CHANGELIST}add/", form).status_code == 302
    assert ExporterConfig.objects.get().send == ["hits"]
