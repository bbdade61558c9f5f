"""Deliveries carried out by a real Celery worker on the real broker (Redis when REDIS_URL is
set, else the filesystem broker) to a real HTTP sink."""

import json

import pytest
from django.db import transaction

from events.tests.factories import PlateEventFactory
from exporters import services
from exporters.models import ExportDelivery
from exporters.signing import signature_verify
from exporters.tasks import exporter_deliver, exporter_deliveries_attempt
from exporters.tests.conftest import wait_until
from exporters.tests.sink import Reply

Status = ExportDelivery.Status


def plan(*events):
    with transaction.atomic():
        return services.deliveries_plan(events=list(events))


def settled(delivery, *statuses):
    def check():
        delivery.refresh_from_db()
        return delivery.status in statuses

    return wait_until(check, message=f"delivery to become {statuses}")


def test_the_worker_delivers_once_with_a_signature_the_receiver_verifies(
    celery_worker, exporter_factory, sink
):
    exporter_factory(auth_type="hmac", secret="shared-hmac-key")
    event = PlateEventFactory()
    [delivery] = plan(event)

    settled(delivery, Status.DELIVERED)
    [request] = sink.wait_for(1)
    assert signature_verify(
        secret="shared-hmac-key", body=request.body, header=request.headers["X-ANPR-Signature"]
    )
    assert request.headers["X-ANPR-Delivery"] == str(delivery.pk)
    assert json.loads(request.body)["events"][0]["id"] == str(event.pk)
    assert delivery.attempts == 1

    # A second message for the same delivery (a broker redelivery) sends nothing.
    services.deliveries_enqueue([delivery.pk])
    services.deliveries_sweep()
    with pytest.raises(AssertionError):
        sink.wait_for(2, timeout=1.5)


def test_two_server_errors_then_success_is_delivered_with_three_attempts(
    celery_worker, exporter_factory, sink
):
    exporter_factory(max_attempts=5)
    sink.replies = [Reply(500), Reply(500)]
    [delivery] = plan(PlateEventFactory())

    settled(delivery, Status.DELIVERED)
    assert delivery.attempts == 3 and delivery.last_status_code == 200
    requests = sink.wait_for(3)
    assert len({r.headers["X-ANPR-Delivery"] for r in requests}) == 1


def test_a_receiver_down_longer_than_the_retries_leaves_it_dead_until_redelivered(
    celery_worker, exporter_factory, sink
):
    exporter_factory(max_attempts=3)
    sink.stop()
    [delivery] = plan(PlateEventFactory())

    settled(delivery, Status.DEAD)
    assert delivery.attempts == 3
    assert "Connection failed" in delivery.last_error and delivery.last_status_code is None

    sink.start()
    assert services.deliveries_redeliver(deliveries=ExportDelivery.objects.filter(status="dead"))
    settled(delivery, Status.DELIVERED)
    assert len(sink.wait_for(1)) == 1


def test_a_lost_message_is_delivered_by_the_sweep(celery_worker, exporter_factory, sink, settings):
    settings.EXPORTER_CLAIM_TIMEOUT = 0.5
    exporter_factory()
    event = PlateEventFactory()
    with transaction.atomic():
        [delivery] = services.deliveries_plan(events=[event])
        transaction.get_connection().run_on_commit.clear()  # the message is lost
    with pytest.raises(AssertionError):
        sink.wait_for(1, timeout=1)
    assert services.deliveries_sweep() == 1
    settled(delivery, Status.DELIVERED)
    assert len(sink.received) == 1


def test_a_client_error_is_not_retried(celery_worker, exporter_factory, sink):
    exporter_factory()
    sink.replies = [Reply(400, body=b"unknown camera")]
    [delivery] = plan(PlateEventFactory())
    settled(delivery, Status.DEAD)
    assert delivery.attempts == 1 and "unknown camera" in delivery.last_error
    with pytest.raises(AssertionError):
        sink.wait_for(2, timeout=1)


def test_a_disabled_exporter_sends_nothing(celery_worker, exporter_factory, sink):
    exporter = exporter_factory(enabled=False)
    assert plan(PlateEventFactory()) == []
    services.exporter_set_enabled(exporter=exporter, enabled=True)
    [delivery] = plan(PlateEventFactory())
    settled(delivery, Status.DELIVERED)
    assert len(sink.wait_for(1)) == 1


def test_a_batch_of_deliveries_travels_in_few_messages_and_each_is_sent_once(
    transactional_db, exporter_factory, sink
):
    from anpr.celery import app

    exporter_factory()
    queue = app.conf.task_default_queue
    with app.connection_for_write() as broker:
        broker.default_channel.queue_purge(queue)
        deliveries = plan(*(PlateEventFactory() for _ in range(45)))  # queued after commit
        messages = []
        with broker.SimpleQueue(queue) as queued:
            while True:
                try:
                    message = queued.get(timeout=1)
                except queued.Empty:
                    break
                messages.append(message)
                message.ack()

    assert [m.headers["task"] for m in messages] == [
        "exporters.tasks.exporter_deliveries_attempt"
    ] * 3
    batches = [m.decode()[0][0] for m in messages]  # protocol 2: [args, kwargs, embed]
    assert sorted(len(ids) for ids in batches) == [5, 20, 20]
    assert sorted(i for ids in batches for i in ids) == sorted(str(d.pk) for d in deliveries)

    # What the worker does with one of them; a repeat of the message sends nothing.
    for ids in batches * 2:
        exporter_deliveries_attempt.apply(args=(ids,))
    assert ExportDelivery.objects.filter(status=Status.DELIVERED).count() == 45
    assert sorted(r.headers["X-ANPR-Delivery"] for r in sink.wait_for(45)) == sorted(
        str(d.pk) for d in deliveries
    )


def test_the_worker_delivers_a_batch_of_reads_once_each(celery_worker, exporter_factory, sink):
    exporter_factory(auth_type="hmac", secret="k")
    deliveries = plan(*(PlateEventFactory() for _ in range(45)))

    wait_until(
        lambda: ExportDelivery.objects.filter(status=Status.DELIVERED).count() == 45,
        message="45 deliveries to be delivered",
    )
    received = sink.wait_for(45)
    assert sorted(r.headers["X-ANPR-Delivery"] for r in received) == sorted(
        str(d.pk) for d in deliveries
    )
    assert all(
        signature_verify(secret="k", body=r.body, header=r.headers["X-ANPR-Signature"])
        for r in received
    )
    assert set(ExportDelivery.objects.values_list("attempts", flat=True)) == {1}


def test_a_message_of_the_previous_version_with_one_id_is_still_delivered(
    celery_worker, exporter_factory, sink
):
    exporter_factory()
    with transaction.atomic():
        [delivery] = services.deliveries_plan(events=[PlateEventFactory()])
        transaction.get_connection().run_on_commit.clear()  # only the old-style message
    exporter_deliver.delay(str(delivery.pk))
    settled(delivery, Status.DELIVERED)
    assert [r.headers["X-ANPR-Delivery"] for r in sink.wait_for(1)] == [str(delivery.pk)]
