"""The sweep and redelivery: rows whose message or worker was lost are queued again."""

from datetime import timedelta

import pytest
from django.utils import timezone

from events.tests.factories import PlateEventFactory
from exporters import services
from exporters.models import ExportDelivery
from exporters.tests.outbox import attempt, plan
from exporters.tests.sink import Reply

pytestmark = pytest.mark.django_db

Status = ExportDelivery.Status


# --- The sweep --------------------------------------------------------------------------------


def test_the_sweep_queues_lost_messages_and_dead_workers_but_not_live_ones(
    exporter_factory, settings
):
    settings.EXPORTER_CLAIM_TIMEOUT = 60
    exporter_factory()
    fresh, lost, stuck, busy, later = plan(*(PlateEventFactory() for _ in range(5)))
    now = timezone.now()
    old = now - timedelta(minutes=5)
    ExportDelivery.objects.filter(pk=lost.pk).update(queued_at=old)
    ExportDelivery.objects.filter(pk=stuck.pk).update(
        status=Status.DELIVERING,
        attempts=1,
        next_attempt_at=now - timedelta(seconds=1),
        queued_at=old,
    )
    ExportDelivery.objects.filter(pk=busy.pk).update(
        status=Status.DELIVERING,
        attempts=1,
        next_attempt_at=now + timedelta(seconds=30),
        queued_at=old,
    )
    ExportDelivery.objects.filter(pk=later.pk).update(
        next_attempt_at=now + timedelta(hours=1), queued_at=None
    )

    assert services.deliveries_sweep() == 2  # lost and stuck; fresh has a live message
    queued = set(ExportDelivery.objects.filter(queued_at__gte=now).values_list("pk", flat=True))
    assert queued >= {lost.pk, stuck.pk}
    assert services.deliveries_sweep() == 0  # just queued: not again until presumed lost


def test_a_stuck_delivery_is_claimed_again_and_sent(exporter_factory, sink):
    exporter_factory()
    [delivery] = plan(PlateEventFactory())
    ExportDelivery.objects.filter(pk=delivery.pk).update(
        status=Status.DELIVERING, attempts=1, next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    assert attempt(delivery) == Status.DELIVERED
    assert delivery.attempts == 2 and len(sink.received) == 1


def test_redeliver_sends_a_dead_delivery_again_from_a_fresh_schedule(exporter_factory, sink):
    exporter_factory(max_attempts=1)
    sink.replies = [Reply(500)]
    [delivery] = plan(PlateEventFactory())
    assert attempt(delivery) == Status.DEAD
    assert services.deliveries_redeliver(deliveries=ExportDelivery.objects.all()) == 1
    delivery.refresh_from_db()
    assert delivery.status == Status.PENDING and delivery.attempts == 0
    assert attempt(delivery) == Status.DELIVERED
    assert [r.headers["X-ANPR-Delivery"] for r in sink.received] == [str(delivery.pk)] * 2
