"""Django's PostgreSQL backend with a health check that costs no round trip.

With persistent connections (gunicorn, Celery) Django checks a connection before each
request's first query; its check is a `SELECT 1`, a fifth of the queries of a device ingest.
When the server ends a connection (a restart, an idle timeout, pg_terminate_backend) it sends
an error and closes the socket, so an idle connection whose socket has something to read is
suspect: only then is the `SELECT 1` run. A connection whose socket is quiet is used as is
(a server that vanished without a word, e.g. a host lost in a failover, is noticed by the
first query instead, which fails that one request).
"""

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self):
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        try:
            poller = select.poll()  # not select(): it fails for descriptors above 1023
            poller.register(connection.fileno(), select.POLLIN)
            waiting = poller.poll(0)
        except (OSError, ValueError):
            return False
        if not waiting:
            return True
        return super().is_usable()  # a notice or a goodbye: ask the server
