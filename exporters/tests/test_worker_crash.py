"""A worker process killed in the middle of a delivery: the delivery is still delivered, by
another worker, once the sweep (run by that worker's embedded beat) finds it stuck.

Worker processes need a database they can see, so this runs on PostgreSQL (CI); on the
in-memory SQLite test database it is skipped (and in CI a skip fails the run)."""

import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction

from conftest import require_service
from events.tests.factories import PlateEventFactory
from exporters import services
from exporters.models import ExportDelivery
from exporters.tests.conftest import wait_until

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker_processes(transactional_db):
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "worker processes cannot see the in-memory test database")
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "EXPORTER_ALLOWED_NETWORKS": "127.0.0.0/8",
        "EXPORTER_CLAIM_TIMEOUT": "2",
        "EXPORTER_SWEEP_INTERVAL": "0.5",
        "EXPORTER_RETRY_BASE": "0.1",
        "EXPORTER_RETRY_MAX_DELAY": "0.5",
        "LOG_LEVEL": "WARNING",
    }
    started: list[subprocess.Popen] = []

    def start(*, beat: bool = False) -> subprocess.Popen:
        command = [
            sys.executable, "-m", "celery", "-A", "anpr", "worker",
            "--pool", "prefork", "--concurrency", "1", "--loglevel", "WARNING",
            "--hostname", f"crash-test-{uuid.uuid4().hex[:8]}@%h",
            "--without-mingle", "--without-gossip", "--without-heartbeat",
        ]  # fmt: skip
        if beat:
            schedule = Path(settings.DATA_DIR) / f"beat-{uuid.uuid4().hex}"
            command += ["--beat", "--schedule", str(schedule)]
        process = subprocess.Popen(command, cwd=BASE_DIR, env=env, start_new_session=True)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


def test_a_worker_killed_mid_delivery_is_delivered_after_restart(
    worker_processes, exporter_factory, sink
):
    exporter_factory()
    sink.hold = threading.Event()
    first = worker_processes()
    with transaction.atomic():
        [delivery] = services.deliveries_plan(events=[PlateEventFactory()])

    assert sink.holding.wait(60), "the first worker never sent the request"
    os.killpg(first.pid, signal.SIGKILL)  # the worker and its child die mid-request
    first.wait(10)
    delivery.refresh_from_db()
    assert delivery.status == ExportDelivery.Status.DELIVERING and delivery.attempts == 1

    sink.hold.set()  # the receiver finishes reading the dead connection
    sink.hold = None
    worker_processes(beat=True)

    def delivered():
        delivery.refresh_from_db()
        return delivery.status == ExportDelivery.Status.DELIVERED

    wait_until(delivered, timeout=60, message="the delivery to be delivered after the crash")
    assert delivery.attempts == 2
    ids = {request.headers["X-ANPR-Delivery"] for request in sink.received}
    assert ids == {str(delivery.pk)}  # the receiver can drop the repeat by its id
