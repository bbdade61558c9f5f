"""Outbox helpers of the exporters' service tests: plan with a transaction, attempt now."""

from django.db import transaction

from exporters import services


def plan(*events):
    with transaction.atomic():
        return services.deliveries_plan(events=list(events))


def attempt(delivery):
    outcome = services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return outcome
