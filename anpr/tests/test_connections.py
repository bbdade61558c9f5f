"""Each entry point holds a bounded number of PostgreSQL connections, however many requests.

Under daphne (ASGI) every sync view runs in a new thread: persistent connections would open one
per thread until PostgreSQL refuses clients, so asgi.py selects psycopg's pool. gunicorn's sync
workers keep one persistent connection each.
"""

import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.db import connection

from anpr.localserver import ServerDidNotStart, free_port, wait_until_up
from conftest import require_service

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _test_database_url() -> str:
    s = connection.settings_dict
    password = f":{quote(s['PASSWORD'])}" if s.get("PASSWORD") else ""
    return (
        f"postgres://{quote(s['USER'])}{password}@{s['HOST'] or '127.0.0.1'}:"
        f"{s['PORT'] or 5432}/{s['NAME']}"
    )


def _now():
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


def _connections_to(database: str, since) -> int:
    """Connections opened since `since` (earlier tests' threads may still hold theirs)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
            "AND pid <> pg_backend_pid() AND backend_start >= %s",
            [database, since],
        )
        return cursor.fetchone()[0]


def _serve(command: list[str], port: int, env: dict):
    # Logs go to a file: an unread pipe fills up and would stall the server mid-test.
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", processes=[process])
    except ServerDidNotStart as error:
        process.kill()
        log.seek(0)
        raise AssertionError(f"{error}\n{log.read().decode()[-2000:]}") from None
    return process


@pytest.fixture
def server_env(transactional_db, tmp_path):
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "DATABASE_URL does not point at PostgreSQL")
    env = {k: v for k, v in os.environ.items() if k not in {"DB_CONNECTIONS"}}
    env.update(
        DATABASE_URL=_test_database_url(),
        SECRET_KEY="test-connections-" + "x" * 40,
        DATA_DIR=str(tmp_path),
        REDIS_URL="",
        DB_POOL_MAX_SIZE="4",
    )
    return env


def _hammer(port: int, requests_count: int = 240, clients: int = 24) -> None:
    # An API request with a token that must be looked up: a query per request, on the
    # server's own connections (/ready checks over a connection of its own).
    url = f"http://127.0.0.1:{port}/api/events/"
    headers = {"Authorization": "Bearer anpru_not-a-token-of-anyone"}

    def one(_):
        return requests.get(url, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(clients) as pool:
        statuses = list(pool.map(one, range(requests_count)))
    assert set(statuses) == {401}


@pytest.mark.parametrize(
    ("server", "limit"),
    [
        # daphne: one process, psycopg pool of at most DB_POOL_MAX_SIZE=4 connections.
        ("daphne", 4),
        # gunicorn: 2 sync workers, one persistent connection each.
        ("gunicorn", 2),
    ],
)
def test_many_requests_do_not_grow_the_connection_count(server_env, server, limit):
    database = connection.settings_dict["NAME"]
    port = free_port()
    if server == "daphne":
        command = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "anpr.asgi:application"]
    else:
        command = [str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "anpr.wsgi"]
    started = _now()
    process = _serve(command, port, server_env)
    try:
        _hammer(port)
        after_first = _connections_to(database, started)
        _hammer(port)
        after_second = _connections_to(database, started)
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert 1 <= after_first <= limit
    assert after_second <= limit
