"""Concurrency on PostgreSQL (CI): workers racing for one delivery send it once, and
concurrent sweeps split the due rows (SELECT … FOR UPDATE SKIP LOCKED) instead of waiting
or doubling up. SQLite serializes writers, so these need PostgreSQL."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections, transaction

from conftest import require_service
from events.tests.factories import PlateEventFactory
from exporters import services
from exporters.models import ExportDelivery


@pytest.fixture
def postgresql(transactional_db):
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "row locks across connections need PostgreSQL")


def _in_thread(function):
    def run(*args):
        try:
            return function(*args)
        finally:
            connections.close_all()  # this thread's connection

    return run


def test_racing_workers_send_a_delivery_once(postgresql, exporter_factory, sink):
    exporter_factory()
    with transaction.atomic():
        deliveries = services.deliveries_plan(events=[PlateEventFactory() for _ in range(5)])
    sink.hold = threading.Event()  # every request waits, so the racers truly overlap
    ids = [d.pk for d in deliveries for _ in range(4)]  # four workers per delivery
    with ThreadPoolExecutor(max_workers=len(ids)) as pool:
        outcomes = pool.map(_in_thread(lambda i: services.delivery_attempt(delivery_id=i)), ids)
        sink.holding.wait(10)
        threading.Timer(0.5, sink.hold.set).start()
        outcomes = list(outcomes)

    assert outcomes.count("delivered") == 5 and outcomes.count("skipped") == 15
    sent = sorted(r.headers["X-ANPR-Delivery"] for r in sink.received)
    assert sent == sorted(str(d.pk) for d in deliveries)
    assert set(ExportDelivery.objects.values_list("attempts", flat=True)) == {1}


def test_concurrent_sweeps_skip_rows_another_sweep_holds(postgresql, exporter_factory, settings):
    exporter_factory()
    with transaction.atomic():
        deliveries = services.deliveries_plan(events=[PlateEventFactory() for _ in range(6)])
    ExportDelivery.objects.update(queued_at=None)  # their messages are presumed lost
    held = {d.pk for d in deliveries[:4]}
    locked, release = threading.Event(), threading.Event()

    @_in_thread
    def other_sweep():
        with transaction.atomic():
            list(ExportDelivery.objects.select_for_update().filter(pk__in=held))
            locked.set()
            release.wait(10)

    thread = threading.Thread(target=other_sweep)
    thread.start()
    try:
        assert locked.wait(10)
        settings.EXPORTER_SWEEP_BATCH = 10
        assert services.deliveries_sweep() == 2  # did not wait for the held rows
        queued = set(
            ExportDelivery.objects.filter(queued_at__isnull=False).values_list("pk", flat=True)
        )
        assert queued == {d.pk for d in deliveries[4:]}
    finally:
        release.set()
        thread.join()
    assert services.deliveries_sweep() == 4
