"""One Redis connection per process, for a command on a request's path (the ingest throttle).

redis.Redis, redis-py's client, takes a connection from its pool for every command, checks
the connection, and wraps the command in retry and observability layers; for one short
command that costs several times the CPU of sending it on a connection held open (figures in
the commit that made this module). The ingest throttle sends a command on most requests of a
device posting within its limit, so it holds one connection instead: made by redis-py's
public ConnectionPool.from_url (the URL's database, credentials and TLS are read by redis-py,
not here) and used through redis-py's public connection interface (send_command,
read_response, disconnect). core/tests/test_redis_client.py checks what this rests on against
a real Redis: replies, the URL's database, a dropped connection, a restarted server and a
fork.
"""

import os
import threading

import redis


class ProcessRedisConnection:
    """A connection to one Redis URL, made on first use; a forked process (gunicorn, Celery)
    or another URL (tests change REDIS_URL) gets a new one. Commands are sent one at a time
    (under daphne, sync views of different requests run on different threads). Made once, at
    import: each one stays registered to be told of forks."""

    def __init__(self, *, timeout: float):
        self.timeout = timeout  # seconds to connect, and for each reply
        self._forget()
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        """No connection yet (a forked child must not share its parent's socket, nor a lock
        another thread held at the fork)."""
        self._lock = threading.Lock()
        self._connection: redis.connection.ConnectionInterface | None = None
        self._url: str | None = None

    def command(self, url: str, *args):
        """The reply to one command, sent to the Redis at `url`. A connection that was dropped
        (a Redis restart, an idle timeout) is replaced and the command sent once more; raises
        redis.RedisError (ConnectionError or TimeoutError: Redis cannot be reached now)."""
        with self._lock:
            connection = self._connection_to(url)
            try:
                return self._reply(connection, args)
            except redis.ConnectionError:
                return self._reply(connection, args)

    def _connection_to(self, url: str) -> "redis.connection.ConnectionInterface":
        if self._connection is None or self._url != url:
            pool = redis.ConnectionPool.from_url(
                url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
            )
            self._connection, self._url = pool.make_connection(), url
        return self._connection

    @staticmethod
    def _reply(connection, args):
        try:
            connection.send_command(*args)
            return connection.read_response()
        except BaseException:
            connection.disconnect()  # the next command connects afresh
            raise
