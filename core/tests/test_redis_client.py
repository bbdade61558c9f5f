"""core.redis_client holds a redis-py connection itself instead of going through redis.Redis:
these tests hold it to what it rests on, against a real Redis, so a redis-py that changes
how a held connection replies, reconnects or reads a URL fails here, not as a throttle that
counts nothing (core.throttling lets every request in when Redis fails)."""

import os
import shutil
import time
import uuid

import pytest
import redis

from anpr.tests.servers import RedisServer
from conftest import require_service
from core.redis_client import ProcessRedisConnection

pytestmark = pytest.mark.redis


def _other_database(url: str) -> str:
    base, _, number = url.rpartition("/")
    return f"{base}/{(int(number or 0) + 1) % 16}"


def test_replies_are_python_values_and_keys_land_in_the_urls_database(redis_url):
    connection = ProcessRedisConnection(timeout=2)
    key = f"test:redis-client:{uuid.uuid4().hex}"
    try:
        assert connection.command(redis_url, "INCRBY", key, 5) == 5
        assert connection.command(redis_url, "EXPIRE", key, 60) == 1
        assert connection.command(redis_url, "GET", key) == b"5"
        assert redis.Redis.from_url(redis_url).get(key) == b"5"
        assert redis.Redis.from_url(_other_database(redis_url)).get(key) is None
        # An error reply is raised, and the connection still serves the next command.
        with pytest.raises(redis.ResponseError):
            connection.command(redis_url, "INCRBY", key, "five")
        assert connection.command(redis_url, "INCRBY", key, 1) == 6
    finally:
        redis.Redis.from_url(redis_url).delete(key)


def test_a_dropped_connection_is_replaced_and_the_command_still_answered(redis_url):
    # Redis closes connections (a restart, a failover, an idle timeout): only the next
    # command notices, and it must not fail for that.
    connection = ProcessRedisConnection(timeout=2)
    first_id = connection.command(redis_url, "CLIENT", "ID")
    assert redis.Redis.from_url(redis_url).client_kill_filter(_id=first_id) == 1
    second_id = connection.command(redis_url, "CLIENT", "ID")
    assert second_id != first_id


def test_a_redis_that_is_down_fails_fast_and_is_used_again_once_back(tmp_path):
    if shutil.which("redis-server") is None:
        require_service("redis-server", "the binary is not installed")
    server = RedisServer(tmp_path)
    server.start()
    connection = ProcessRedisConnection(timeout=2)
    try:
        assert connection.command(server.url, "INCRBY", "count", 1) == 1
        server.kill()
        started = time.monotonic()
        with pytest.raises(redis.ConnectionError):
            connection.command(server.url, "INCRBY", "count", 1)
        assert time.monotonic() - started < 1  # refused at once, not after the timeout
        server.start()  # empty again; the same object reconnects, no restart of ours
        assert connection.command(server.url, "INCRBY", "count", 1) == 1
    finally:
        if server.process.poll() is None:
            server.kill()


def test_a_forked_process_uses_a_connection_of_its_own(redis_url):
    # gunicorn and Celery fork workers: two processes on one socket would read each other's
    # replies.
    connection = ProcessRedisConnection(timeout=2)
    parent_id = connection.command(redis_url, "CLIENT", "ID")
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # the child: report its connection's id, and leave at once
        try:
            os.write(writer, str(connection.command(redis_url, "CLIENT", "ID")).encode())
        finally:
            os._exit(0)
    os.close(writer)
    child_id = int(os.read(reader, 64) or 0)
    os.waitpid(child, 0)
    assert child_id and child_id != parent_id
    assert connection.command(redis_url, "CLIENT", "ID") == parent_id  # the parent's is intact
