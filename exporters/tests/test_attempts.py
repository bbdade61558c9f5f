"""One delivery attempt and a message's many, called directly, against a real HTTP sink;
and the destinations a delivery may not reach."""

import ipaddress
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from events.reads import ImageIn, ReadIn
from events.services.ingest import plate_events_ingest
from events.tests.factories import PlateEventFactory
from events.tests.images import image_bytes
from exporters import services
from exporters.models import ExportDelivery, ExporterConfig
from exporters.services import claims, recording, sending
from exporters.signing import signature_verify
from exporters.tests.outbox import attempt, plan
from exporters.tests.sink import Reply, Sink
from exporters.transport import SendResult

pytestmark = pytest.mark.django_db

Status = ExportDelivery.Status


def test_a_delivery_is_sent_once_signed_with_its_id_and_the_event(exporter_factory, sink):
    exporter = exporter_factory(auth_type="hmac", secret="s3cret-signing-key")
    event = PlateEventFactory(plate_raw="ab12 cde")
    [delivery] = plan(event)

    assert attempt(delivery) == Status.DELIVERED
    assert attempt(delivery) == "skipped"  # a second message for it sends nothing

    [request] = sink.received
    assert request.method == "POST" and request.path == "/hook"
    assert request.headers["X-ANPR-Delivery"] == str(delivery.pk)
    assert signature_verify(
        secret="s3cret-signing-key", body=request.body, header=request.headers["X-ANPR-Signature"]
    )
    assert not signature_verify(
        secret="another-key", body=request.body, header=request.headers["X-ANPR-Signature"]
    )
    payload = json.loads(request.body)
    assert payload["delivery_id"] == str(delivery.pk)
    assert [e["plate"] for e in payload["events"]] == ["AB12CDE"]
    assert payload["events"][0]["camera"]["slug"] == event.camera.slug
    assert delivery.status == Status.DELIVERED and delivery.attempts == 1
    assert delivery.last_status_code == 200 and delivery.response_ms is not None
    assert delivery.delivered_at is not None
    exporter.refresh_from_db()
    assert exporter.last_success_at is not None
    assert "s3cret-signing-key" not in request.body.decode()


def test_a_delivered_image_link_opens_the_image_without_an_account(
    exporter_factory, sink, settings, device_with_key
):
    """Receivers get a signed, expiring link on PUBLIC_BASE_URL (events.image_links)."""
    settings.PUBLIC_BASE_URL = "https://anpr.example.com"
    exporter_factory()
    device, _ = device_with_key
    [result] = plate_events_ingest(
        device=device,
        reads=[
            ReadIn(plate="AB12CDE", captured_at=timezone.now(), plate_image=ImageIn(image_bytes()))
        ],
    )
    [delivery] = ExportDelivery.objects.filter(event_links__event_id=result.id)
    assert attempt(delivery) == Status.DELIVERED

    [request] = sink.received
    [event] = json.loads(request.body)["events"]
    assert event["id"] == str(result.id) and event["frame_image"] is None
    link = event["plate_image"]
    assert link.startswith("https://anpr.example.com/api/event-images/")
    image = APIClient().get(link.removeprefix("https://anpr.example.com"))
    assert image.status_code == 200
    assert b"".join(image.streaming_content) == image_bytes()


def test_basic_and_bearer_authentication_and_extra_headers(exporter_factory, sink):
    exporter_factory(name="basic", auth_type="basic", username="gate", secret="pw")
    exporter_factory(name="bearer", auth_type="bearer", secret="tok", headers={"X-Site": "n1"})
    for delivery in plan(PlateEventFactory()):
        attempt(delivery)
    authorizations = sorted(r.headers["Authorization"] for r in sink.received)
    assert authorizations == ["Basic Z2F0ZTpwdw==", "Bearer tok"]
    assert {r.headers.get("X-Site") for r in sink.received} == {None, "n1"}


def test_a_server_error_is_retried_later_and_a_client_error_is_not(exporter_factory, sink):
    exporter_factory(name="flaky", max_attempts=5)
    sink.replies = [Reply(500, body=b"database down"), Reply(422, body=b"plate field missing")]
    [delivery] = plan(PlateEventFactory())

    assert attempt(delivery) == Status.PENDING
    assert delivery.attempts == 1 and delivery.last_status_code == 500
    assert "database down" in delivery.last_error
    assert delivery.next_attempt_at > timezone.now() - timedelta(seconds=1)

    ExportDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert attempt(delivery) == Status.DEAD
    assert delivery.attempts == 2 and delivery.last_status_code == 422
    assert "plate field missing" in delivery.last_error
    assert attempt(delivery) == "skipped"
    assert len(sink.received) == 2


def test_an_attempt_that_is_not_due_sends_nothing(exporter_factory, sink):
    exporter_factory()
    [delivery] = plan(PlateEventFactory())
    ExportDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    assert attempt(delivery) == "skipped"
    assert sink.received == []


def test_retry_after_is_honoured(exporter_factory, sink, settings):
    settings.EXPORTER_RETRY_MAX_DELAY = 3600
    exporter_factory()
    sink.replies = [Reply(429, headers={"Retry-After": "120"})]
    [delivery] = plan(PlateEventFactory())
    before = timezone.now()
    assert attempt(delivery) == Status.PENDING
    assert delivery.next_attempt_at >= before + timedelta(seconds=120)
    assert delivery.queued_at is None  # beyond a countdown: the sweep queues it when due


def test_after_the_last_attempt_the_delivery_is_dead(exporter_factory, sink):
    exporter_factory(max_attempts=2)
    sink.default = Reply(503)
    [delivery] = plan(PlateEventFactory())
    attempt(delivery)
    ExportDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert attempt(delivery) == Status.DEAD
    assert delivery.attempts == 2 and delivery.last_status_code == 503


def test_a_redirect_is_not_followed(exporter_factory, sink):
    exporter_factory()
    sink.replies = [Reply(302, headers={"Location": "http://169.254.169.254/latest/"})]
    [delivery] = plan(PlateEventFactory())
    assert attempt(delivery) == Status.DEAD
    assert "not followed" in delivery.last_error
    assert len(sink.received) == 1


def test_a_huge_response_body_is_read_only_up_to_the_cap(exporter_factory, sink, settings):
    settings.EXPORTER_RESPONSE_MAX_BYTES = 1024
    exporter_factory()
    sink.replies = [Reply(500, body=b"x" * 5_000_000)]
    [delivery] = plan(PlateEventFactory())
    attempt(delivery)
    assert delivery.status == Status.PENDING
    assert len(delivery.last_error) < 300


def test_the_default_schedule_spans_more_than_a_day(settings):
    settings.EXPORTER_RETRY_BASE = 10.0
    settings.EXPORTER_RETRY_MAX_DELAY = 6 * 3600.0
    default_attempts = ExporterConfig._meta.get_field("max_attempts").default
    assert services.retry_schedule_span(max_attempts=default_attempts) >= 24 * 3600
    delays = [services.retry_delay(attempt=n) for n in range(1, 6)]
    assert all(10 * 2 ** (n - 1) <= d <= 10 * 2 ** (n - 1) * 1.25 for n, d in enumerate(delays, 1))
    assert services.retry_delay(attempt=1, retry_after=600) >= 600


# --- Many deliveries per attempt (one task message) ------------------------------------------


def test_one_call_claims_the_due_deliveries_sends_each_and_records_every_outcome(
    exporter_factory, sink, settings
):
    settings.EXPORTER_RETRY_MAX_DELAY = 3600
    refusing, throttling, down = Sink(), Sink(), Sink()
    down.stop()
    try:
        refusing.default = Reply(400, body=b"no such camera")
        throttling.default = Reply(429, headers={"Retry-After": "120"})
        exporter_factory(name="ok")
        exporter_factory(name="refusing", url=refusing.url)
        exporter_factory(name="throttling", url=throttling.url, max_attempts=5)
        exporter_factory(name="down", url=down.url, max_attempts=5)
        first, second, third = PlateEventFactory(), PlateEventFactory(), PlateEventFactory()
        deliveries = plan(first, second, third)
        ok = ExportDelivery.objects.filter(exporter__name="ok")
        done, later, due = (ok.get(events=event) for event in (first, second, third))
        assert attempt(done) == Status.DELIVERED
        ExportDelivery.objects.filter(pk=later.pk).update(
            next_attempt_at=timezone.now() + timedelta(minutes=5)
        )
        before = timezone.now()

        outcomes = services.deliveries_attempt(delivery_ids=[d.pk for d in deliveries])
    finally:
        refusing.stop()
        throttling.stop()

    by_exporter = {}
    for delivery in ExportDelivery.objects.select_related("exporter"):
        by_exporter.setdefault(delivery.exporter.name, []).append(delivery)
        if delivery.pk not in (done.pk, later.pk):
            assert outcomes[str(delivery.pk)] == delivery.status  # what was written
    assert outcomes[str(done.pk)] == outcomes[str(later.pk)] == "skipped"
    assert len(sink.received) == 2  # `done` once before, `due` now; `later` not yet
    due.refresh_from_db()
    assert due.status == Status.DELIVERED and due.delivered_at >= before
    assert due.attempts == 1 and due.last_status_code == 200 and due.response_ms is not None
    assert all(
        d.status == Status.DEAD and d.attempts == 1 and "no such camera" in d.last_error
        for d in by_exporter["refusing"]
    )
    assert all(
        d.status == Status.PENDING
        and d.last_status_code == 429
        and d.next_attempt_at >= before + timedelta(seconds=120)
        and d.queued_at is None  # beyond a countdown: the sweep queues it when due
        for d in by_exporter["throttling"]
    )
    assert all(
        d.status == Status.PENDING
        and d.last_status_code is None
        and "Connection failed" in d.last_error
        and d.queued_at == d.next_attempt_at  # a short retry goes back on the queue
        for d in by_exporter["down"]
    )
    assert len(refusing.received) == len(throttling.received) == 3


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: companions are claimed with SKIP LOCKED",
)
def test_a_message_with_room_takes_due_deliveries_of_its_exporters_along(exporter_factory, sink):
    """Reads posted one per request make one delivery per message; the task's attempt also
    claims other due deliveries of the same exporter, and their own messages then skip."""
    ours, disabled = exporter_factory(name="ours"), exporter_factory(name="disabled")
    [own, other_exporter] = plan(PlateEventFactory())
    assert own.exporter_id == ours.pk and other_exporter.exporter_id == disabled.pk
    waiting = [plan(PlateEventFactory())[0] for _ in range(3)]
    later = waiting.pop()
    ExportDelivery.objects.filter(pk=later.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    disabled.enabled = False
    disabled.save()

    outcomes = services.deliveries_attempt(delivery_ids=[own.pk], companions=True)

    assert outcomes == {str(d.pk): Status.DELIVERED for d in [own, *waiting]}
    assert sorted(r.headers["X-ANPR-Delivery"] for r in sink.received) == sorted(
        str(d.pk) for d in [own, *waiting]
    )
    for delivery in waiting:  # each one's own message finds nothing to do
        assert services.deliveries_attempt(delivery_ids=[delivery.pk], companions=True) == {
            str(delivery.pk): "skipped"
        }
    assert len(sink.received) == 3
    statuses = dict(ExportDelivery.objects.values_list("pk", "status"))
    assert statuses[later.pk] == statuses[other_exporter.pk] == Status.PENDING  # not due; off
    assert ExportDelivery.objects.filter(exporter=disabled, status=Status.PENDING).count() == 4


def test_an_error_of_ours_on_one_delivery_does_not_stop_the_others(
    exporter_factory, sink, monkeypatch
):
    broken = exporter_factory(name="broken", url=sink.url + "?broken")
    healthy = exporter_factory(name="healthy")
    deliveries = plan(PlateEventFactory())
    real_send = sending.request_send

    def send(*, url, **kwargs):
        if url.endswith("?broken"):
            raise UnicodeEncodeError("latin-1", "東京", 0, 2, "ordinal not in range(256)")
        return real_send(url=url, **kwargs)

    monkeypatch.setattr(sending, "request_send", send)

    outcomes = services.deliveries_attempt(delivery_ids=[d.pk for d in deliveries])

    by_exporter = {d.exporter_id: d for d in ExportDelivery.objects.all()}
    assert by_exporter[healthy.pk].status == Status.DELIVERED and len(sink.received) == 1
    failed = by_exporter[broken.pk]
    assert failed.status == Status.PENDING and failed.attempts == 1  # retried on its schedule
    assert "UnicodeEncodeError" in failed.last_error
    assert outcomes[str(failed.pk)] == Status.PENDING


def test_the_queries_of_an_attempt_do_not_grow_with_its_deliveries(exporter_factory, sink):
    exporter_factory()

    def queries_for(count: int) -> int:
        ids = [d.pk for d in plan(*(PlateEventFactory() for _ in range(count)))]
        with CaptureQueriesContext(connection) as queries:
            outcomes = services.deliveries_attempt(delivery_ids=ids)
        assert list(outcomes.values()) == [Status.DELIVERED] * count
        return len(queries)

    queries_for(1)  # the exporter's last success is written at most every few seconds
    assert queries_for(2) == queries_for(12)
    with CaptureQueriesContext(connection) as queries:
        assert services.deliveries_attempt(delivery_ids=[]) == {}
    assert len(queries) == 0


def test_an_attempt_whose_lease_ran_out_does_not_overwrite_the_next_holder(exporter_factory, sink):
    exporter = exporter_factory(max_attempts=3)
    [delivery] = plan(PlateEventFactory())
    [stale] = claims.deliveries_claim(delivery_ids=[str(delivery.pk)], now=timezone.now())
    stale.exporter = exporter
    # The first holder went silent past its lease; the row was redelivered (attempts back to
    # 0) and claimed again, so both holders are on attempt 1: only the lease tells them apart.
    ExportDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    services.deliveries_redeliver(deliveries=ExportDelivery.objects.all())
    [current] = claims.deliveries_claim(delivery_ids=[str(delivery.pk)], now=timezone.now())
    assert stale.attempts == current.attempts == 1

    late = SendResult(None, 5, "Connection failed: late", retryable=True)
    assert recording.attempts_record(attempts=[(stale, late)], lease=stale.next_attempt_at) == {}
    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERING and delivery.last_error == ""
    assert delivery.next_attempt_at == current.next_attempt_at


def test_deliveries_that_could_outlast_the_lease_are_handed_back_unsent(
    exporter_factory, sink, settings
):
    # A send may take the connect timeout (5 s) plus the exporter's; with a lease of 1 s only
    # the first of a message's deliveries may start (one always does).
    settings.EXPORTER_CLAIM_TIMEOUT = 1
    exporter_factory(timeout_seconds=0.5)
    ids = [d.pk for d in plan(*(PlateEventFactory() for _ in range(3)))]

    outcomes = services.deliveries_attempt(delivery_ids=ids)
    assert sorted(outcomes.values()) == [Status.DELIVERED, Status.PENDING, Status.PENDING]
    handed_back = ExportDelivery.objects.filter(status=Status.PENDING)
    assert {d.attempts for d in handed_back} == {0}  # the claim does not count as an attempt
    assert all(d.next_attempt_at <= timezone.now() and d.queued_at for d in handed_back)
    assert len(sink.received) == 1

    while remaining := [d.pk for d in ExportDelivery.objects.filter(status=Status.PENDING)]:
        services.deliveries_attempt(delivery_ids=remaining)
    assert set(ExportDelivery.objects.values_list("attempts", flat=True)) == {1}
    assert sorted(r.headers["X-ANPR-Delivery"] for r in sink.received) == sorted(map(str, ids))


# --- Destinations (SSRF) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.1.10",
        "172.16.0.1",
        "169.254.169.254",
        "::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "0.0.0.0",
        "100.100.100.200",
        "224.0.0.1",
    ],
)
def test_internal_addresses_are_refused_unless_allowed(settings, address):
    from exporters.transport import address_allowed

    settings.EXPORTER_ALLOWED_NETWORKS = []
    assert not address_allowed(ipaddress.ip_address(address))


def test_public_and_allowed_addresses_pass(settings):
    from exporters.transport import address_allowed

    settings.EXPORTER_ALLOWED_NETWORKS = [ipaddress.ip_network("10.20.0.0/16")]
    assert address_allowed(ipaddress.ip_address("93.184.215.14"))
    assert address_allowed(ipaddress.ip_address("10.20.3.4"))
    assert not address_allowed(ipaddress.ip_address("10.21.3.4"))
    settings.EXPORTER_ALLOWED_NETWORKS = [ipaddress.ip_network("169.254.0.0/16")]
    assert not address_allowed(ipaddress.ip_address("169.254.169.254"))  # metadata: never


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_delivery_to_a_refused_address_is_dead_and_nothing_is_sent(
    exporter_factory, sink, settings, host
):
    exporter_factory(url=sink.url.replace("127.0.0.1", host))
    settings.EXPORTER_ALLOWED_NETWORKS = []  # checked at send time, after the exporter was saved
    [delivery] = plan(PlateEventFactory())
    assert attempt(delivery) == Status.DEAD
    assert "refused" in delivery.last_error and "EXPORTER_ALLOWED_NETWORKS" in delivery.last_error
    assert sink.received == []
