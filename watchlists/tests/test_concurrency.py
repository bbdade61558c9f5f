"""One hit per passage when a device posts the same vehicle's reads at the same moment
(a retry under another id, two relays): on PostgreSQL with real transactions."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from conftest import require_service
from events.models import PlateEvent
from events.tests.test_ingest_concurrency import _posted_at_once
from watchlists.models import Hit

from .factories import WatchlistFactory, entry_add

pytestmark = pytest.mark.django_db(transaction=True)


def test_reads_of_one_passage_posted_at_once_raise_one_hit(device_with_key):
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "concurrent transactions are tested on PostgreSQL")
    _, key = device_with_key
    entry_add(WatchlistFactory(match_strategy="ocr"), "RACE123")
    captured = timezone.now() - timedelta(seconds=20)
    for round_number in range(4):
        at = captured + timedelta(milliseconds=round_number)
        bodies = [
            {"plate": plate, "captured_at": at.isoformat(), "event_id": f"r{round_number}-{n}"}
            for n, plate in enumerate(("RACE123", "race-123", "RAC E123", "RACEI23"))
        ]
        answers = _posted_at_once(key, bodies)
        assert all(getattr(a, "status_code", None) == 201 for a in answers), answers
    assert PlateEvent.objects.count() == 16
    assert Hit.objects.count() == 1
