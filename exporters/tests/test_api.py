"""The exporters API: CRUD with a write-only secret, test/enable/disable, the outbox list with
its filters, redelivery, and the users who are refused."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from events.models import PlateEvent
from events.tests.factories import PlateEventFactory
from exporters import services
from exporters.models import ExportDelivery, ExporterConfig
from exporters.tests.sink import Reply

pytestmark = pytest.mark.django_db

URL = "/api/exporters/"
DELIVERIES = "/api/exporter-deliveries/"
SECRET = "very-secret-hmac-key-4711"


def _body(sink, **overrides):
    body = {
        "name": "parking",
        "url": sink.url,
        "auth_type": "hmac",
        "secret": SECRET,
        "headers": {"X-Site": "north"},
        "send": ["reads", "hits"],
    }
    body.update(overrides)
    return body


def test_operator_creates_reads_updates_and_deletes_an_exporter(operator_client, sink, camera):
    created = operator_client.post(URL, _body(sink, cameras=[camera.pk]), format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert data["has_secret"] is True and "secret" not in data
    assert data["send"] == ["reads", "hits"] and data["cameras"] == [camera.pk]

    url = f"{URL}{data['id']}/"
    patched = operator_client.patch(url, {"timeout_seconds": 3}, format="json")
    assert patched.status_code == 200, patched.json()
    assert ExporterConfig.objects.get().secret == SECRET  # kept when not sent
    assert operator_client.delete(url).status_code == 204
    assert not ExporterConfig.objects.exists()


def test_the_secret_never_leaves_the_api(operator_client, sink):
    created = operator_client.post(URL, _body(sink), format="json")
    exporter_id = created.json()["id"]
    sink.replies = [Reply(500, body=f"bad key {SECRET}".encode())]  # a receiver echoing it
    responses = [
        created,
        operator_client.get(URL),
        operator_client.get(f"{URL}{exporter_id}/"),
        operator_client.patch(f"{URL}{exporter_id}/", {"name": "p2"}, format="json"),
        operator_client.post(f"{URL}{exporter_id}/disable/"),
        operator_client.post(f"{URL}{exporter_id}/enable/"),
        operator_client.post(f"{URL}{exporter_id}/test/"),
        operator_client.get(f"{URL}{exporter_id}/"),  # its last_error quotes the receiver
        operator_client.get("/api/schema/"),
    ]
    for response in responses:
        assert response.status_code < 300, response.content
        assert SECRET not in response.content.decode()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"url": "ftp://example.com/in"}, "url"),
        ({"url": "https://user:pw@example.com/in"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"headers": {"Authorization": "Bearer x"}}, "headers"),
        ({"headers": ["X-Site"]}, "headers"),
        ({"headers": {"X-Site": "東京"}}, "headers"),  # HTTP could not send it
        ({"headers": {"X-Ä": "north"}}, "headers"),  # a name is an ASCII token
        ({"headers": {"X Site": "north"}}, "headers"),
        ({"headers": {"X-Site": " north"}}, "headers"),  # requests refuses the space
        ({"secret": ""}, "secret"),
        ({"auth_type": "basic", "username": ""}, "username"),
        ({"auth_type": "digest"}, "auth_type"),
        ({"send": "reads"}, "send"),
        ({"send": []}, "send"),
        ({"send": ["reads", "reads"]}, "send"),
        ({"send": ["reads", "health"]}, "send"),
        ({"send": [1]}, "send"),
        ({"watchlists": [999999]}, "watchlists"),
        ({"min_confidence": 1.5}, "min_confidence"),
        ({"batch_size": 0}, "batch_size"),
        ({"timeout_seconds": 600}, "timeout_seconds"),
        ({"method": "DELETE"}, "method"),
    ],
)
def test_bad_values_are_refused_naming_the_field(operator_client, sink, overrides, field):
    response = operator_client.post(URL, _body(sink, **overrides), format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not ExporterConfig.objects.exists()


def test_test_sends_a_sample_now_and_reports_the_outcome(operator_client, sink):
    exporter_id = operator_client.post(URL, _body(sink), format="json").json()["id"]
    ok = operator_client.post(f"{URL}{exporter_id}/test/")
    assert ok.status_code == 200
    assert ok.json()["ok"] is True and ok.json()["status_code"] == 200
    assert isinstance(ok.json()["response_ms"], int)
    [request] = sink.received
    assert request.headers["X-ANPR-Test"] == "1" and "X-ANPR-Signature" in request.headers

    sink.replies = [Reply(401, body=b"bad signature")]
    failed = operator_client.post(f"{URL}{exporter_id}/test/").json()
    assert failed["ok"] is False and failed["status_code"] == 401
    assert "bad signature" in failed["error"]
    assert not ExportDelivery.objects.exists()  # a test is not an outbox row
    detail = operator_client.get(f"{URL}{exporter_id}/").json()
    assert detail["last_success_at"] and "bad signature" in detail["last_error"]


def test_test_to_a_refused_address_reports_the_refusal(operator_client, settings):
    settings.EXPORTER_ALLOWED_NETWORKS = []
    body = {"name": "lan", "url": "http://10.0.0.7/hook"}
    exporter_id = operator_client.post(URL, body, format="json").json()["id"]
    result = operator_client.post(f"{URL}{exporter_id}/test/").json()
    assert result["ok"] is False and result["status_code"] is None
    assert "EXPORTER_ALLOWED_NETWORKS" in result["error"]


def test_a_refused_test_does_not_reveal_what_the_name_resolves_to(operator_client, settings):
    settings.EXPORTER_ALLOWED_NETWORKS = []
    body = {"name": "internal", "url": "http://localhost:8080/hook"}
    exporter_id = operator_client.post(URL, body, format="json").json()["id"]
    result = operator_client.post(f"{URL}{exporter_id}/test/").json()
    assert result["ok"] is False and "not allowed" in result["error"]
    assert "127.0.0.1" not in result["error"] and "::1" not in result["error"]
    detail = operator_client.get(f"{URL}{exporter_id}/").content.decode()
    assert "127.0.0.1" not in detail


def test_disable_and_enable_apply_to_the_next_event(operator_client, sink):
    exporter_id = operator_client.post(URL, _body(sink, send=["reads"]), format="json").json()["id"]

    def planned_for_a_new_event() -> int:
        with transaction.atomic():
            return len(services.deliveries_plan(events=[PlateEventFactory()]))

    disabled = operator_client.post(f"{URL}{exporter_id}/disable/")
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    assert planned_for_a_new_event() == 0
    assert operator_client.post(f"{URL}{exporter_id}/enable/").json()["enabled"] is True
    assert planned_for_a_new_event() == 1


def _delivery(exporter, status):
    delivery = ExportDelivery.objects.create(
        exporter=exporter, status=status, next_attempt_at=timezone.now()
    )
    delivery.events.add(PlateEventFactory())
    return delivery


def test_deliveries_are_listed_with_filters(operator_client, exporter_factory):
    first = exporter_factory(name="first")
    event = PlateEventFactory()
    with transaction.atomic():
        services.deliveries_plan(events=[event])
    second = exporter_factory(name="second")
    dead = _delivery(second, "dead")

    listed = operator_client.get(DELIVERIES).json()
    assert listed["count"] == 2
    by_status = operator_client.get(DELIVERIES, {"status": "dead"}).json()["results"]
    assert [d["id"] for d in by_status] == [str(dead.pk)]
    by_exporter = operator_client.get(DELIVERIES, {"exporter": first.pk}).json()["results"]
    assert [d["events"] for d in by_exporter] == [[str(event.pk)]]
    by_event = operator_client.get(DELIVERIES, {"event": str(event.pk)}).json()["results"]
    assert [d["exporter_name"] for d in by_event] == ["first"]
    later = operator_client.get(DELIVERIES, {"created_after": "2999-01-01T00:00:00Z"}).json()
    assert later["count"] == 0
    bad = operator_client.get(DELIVERIES, {"created_after": "yesterday"})
    assert bad.status_code == 400 and "created_after" in bad.json()["errors"]


def test_redeliver_one_and_all_dead(operator_client, exporter_factory):
    exporter = exporter_factory()
    one, two = _delivery(exporter, "dead"), _delivery(exporter, "dead")
    sent = operator_client.post(f"{DELIVERIES}{one.pk}/redeliver/")
    assert sent.status_code == 200 and sent.json()["status"] == "pending"
    assert sent.json()["attempts"] == 0

    ExportDelivery.objects.filter(pk=one.pk).update(status="dead")
    bulk = operator_client.post(f"{DELIVERIES}redeliver-dead/", {"exporter": exporter.pk})
    assert bulk.json() == {"redelivered": 2}
    assert set(ExportDelivery.objects.values_list("status", flat=True)) == {"pending"}
    assert two.pk in set(ExportDelivery.objects.values_list("pk", flat=True))


def test_a_delivery_being_sent_cannot_be_redelivered(operator_client, exporter_factory):
    delivery = _delivery(exporter_factory(), "delivering")
    ExportDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=1)
    )
    response = operator_client.post(f"{DELIVERIES}{delivery.pk}/redeliver/")
    assert response.status_code == 409 and response.json()["code"] == "conflict"


def test_a_viewer_reads_but_cannot_write_test_or_redeliver(viewer_client, exporter_factory, sink):
    exporter = exporter_factory(auth_type="bearer", secret=SECRET)
    delivery = _delivery(exporter, "dead")
    assert viewer_client.get(URL).status_code == 200
    assert SECRET not in viewer_client.get(URL).content.decode()
    assert viewer_client.get(DELIVERIES).status_code == 200
    for path in (
        URL,
        f"{URL}{exporter.pk}/test/",
        f"{URL}{exporter.pk}/disable/",
        f"{DELIVERIES}{delivery.pk}/redeliver/",
        f"{DELIVERIES}redeliver-dead/",
    ):
        assert viewer_client.post(path, {}, format="json").status_code == 403, path
    assert sink.received == []
    assert ExporterConfig.objects.get().enabled is True
    assert ExportDelivery.objects.get().status == "dead"


def test_anonymous_and_devices_are_refused(api_client, device_client, exporter_factory):
    exporter_factory()
    assert api_client.get(URL).status_code == 401
    assert api_client.get(DELIVERIES).status_code == 401
    assert device_client.get(URL).status_code == 403
    assert device_client.post(f"{DELIVERIES}redeliver-dead/").status_code == 403


def test_events_can_be_listed_by_exported(operator_client, exporter_factory, sink):
    """GET /api/events/?exported=false lists events with a delivery still to go."""
    exporter_factory()
    done, waiting = PlateEventFactory(), PlateEventFactory()
    with transaction.atomic():
        services.deliveries_plan(events=[done, waiting])
    services.delivery_attempt(delivery_id=ExportDelivery.objects.get(events=done).pk)
    assert PlateEvent.objects.count() == 2

    not_yet = operator_client.get("/api/events/", {"exported": "false"})
    assert not_yet.status_code == 200, not_yet.content
    assert [e["id"] for e in not_yet.json()["results"]] == [str(waiting.pk)]
    exported = operator_client.get("/api/events/", {"exported": "true"}).json()["results"]
    assert [e["id"] for e in exported] == [str(done.pk)]
