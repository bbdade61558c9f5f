"""Devices retrying the same reads at the same time, on PostgreSQL with real transactions
(each thread has its own connection): every post is answered, never with a 500, and every
read is stored once."""

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import require_service
from events.models import PlateEvent

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/events/ingest/"
BATCH = 200
#: Before reads were inserted in key order, about half the rounds deadlocked.
ROUNDS = 8


def _posted_at_once(key: str, bodies: list) -> list:
    """The answers to `bodies` posted at the same moment, each by a thread of its own (an
    exception where the test client raised one: what a device sees as a 500)."""
    barrier = threading.Barrier(len(bodies))
    answers: list = [None] * len(bodies)

    def post(position):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        try:
            barrier.wait(timeout=10)
            answers[position] = client.post(
                URL, json.dumps(bodies[position]), content_type="application/json"
            )
        except Exception as error:  # noqa: BLE001 - reported by the test
            answers[position] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post, args=(n,)) for n in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_the_same_batch_posted_twice_at_once_in_opposite_orders_is_stored_once(device_with_key):
    # Two transactions inserting the same keys in opposite orders would each wait for the
    # other (a deadlock): a device retrying a batch while its first post still runs got 500.
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "concurrent transactions are tested on PostgreSQL")
    _, key = device_with_key
    captured = (timezone.now() - timedelta(minutes=5)).isoformat()
    for round_number in range(ROUNDS):
        batch = [
            {"event_id": f"r{round_number}-{n:04d}", "plate": f"AB{n:04d}", "captured_at": captured}
            for n in range(BATCH)
        ]
        answers = _posted_at_once(key, [batch, batch[::-1]])
        statuses = [getattr(answer, "status_code", repr(answer)) for answer in answers]
        assert set(statuses) <= {200, 201}, (round_number, statuses)
        in_order, reversed_ = (answer.json() for answer in answers)
        assert in_order["created"] + reversed_["created"] == BATCH
        assert in_order["rejected"] == reversed_["rejected"] == 0
        # Each read is created in one answer and a duplicate with the same id in the other.
        outcomes: dict[str, list] = {}
        for answer, order in ((in_order, batch), (reversed_, batch[::-1])):
            for result, read in zip(answer["results"], order, strict=True):
                outcomes.setdefault(read["event_id"], []).append((result["status"], result["id"]))
        for (first, first_id), (second, second_id) in outcomes.values():
            assert {first, second} == {"created", "duplicate"} and first_id == second_id
        stored = PlateEvent.objects.filter(idempotency_key__startswith=f"r{round_number}-")
        assert stored.count() == BATCH
