"""Fixtures of the exporters tests: a real HTTP sink, an exporter aimed at it, a real Celery
worker (in a thread) on the configured broker (Redis when REDIS_URL is set, else the
filesystem broker)."""

import ipaddress
import time

import pytest
from django.db import connection as db_connection
from django.db.backends.signals import connection_created

from exporters.models import ExporterConfig
from exporters.tests.sink import Sink


def _sqlite_readers_do_not_wait(sender, connection, **kwargs):
    """SQLite's in-memory test database is one shared cache for all threads, where a reader
    meets a writer's table lock as an immediate "table is locked" error (no busy timeout).
    Reading uncommitted rows lets the test poll while the worker thread writes."""
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA read_uncommitted = 1")


connection_created.connect(_sqlite_readers_do_not_wait)


@pytest.fixture
def sink():
    server = Sink()
    yield server
    if server.hold is not None:
        server.hold.set()
    server.stop()


@pytest.fixture(autouse=True)
def _fast_exporter_settings(settings):
    """The sink is on loopback (allowed, as a LAN receiver would be) and retries are quick."""
    settings.EXPORTER_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    settings.EXPORTER_RETRY_BASE = 0.05
    settings.EXPORTER_RETRY_MAX_DELAY = 0.2
    settings.EXPORTER_RETRY_JITTER = 0.1


@pytest.fixture
def exporter_factory(db, sink):
    def make(**fields):
        fields.setdefault("name", f"exporter-{ExporterConfig.objects.count() + 1}")
        fields.setdefault("url", sink.url)
        exporter = ExporterConfig(**fields)
        exporter.full_clean(exclude=["cameras", "zones"])
        exporter.save()
        return exporter

    return make


@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker consuming the project's queue, in a thread of this process (so it
    sees the test database, also SQLite's in-memory one)."""
    from celery.contrib.testing.worker import start_worker

    import exporters.tasks  # noqa: F401  (registers the tasks)
    from anpr.celery import app

    with app.connection_for_write() as broker:
        broker.default_channel.queue_purge(app.conf.task_default_queue)
    # One worker thread on SQLite: two writers to the shared in-memory cache would collide.
    pool = "solo" if db_connection.vendor == "sqlite" else "threads"
    with start_worker(app, pool=pool, concurrency=2, perform_ping_check=False) as worker:
        yield worker
    if db_connection.vendor == "postgresql":
        # The worker's threads are gone but kept their connections open (CONN_MAX_AGE); end
        # them so that flushing and dropping the test database is not blocked.
        with db_connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


def wait_until(predicate, timeout: float = 20, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {message() if callable(message) else message}")
