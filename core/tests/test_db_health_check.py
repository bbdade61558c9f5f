"""Persistent connections: one the server ended is noticed before a request uses it (anpr's
PostgreSQL backend checks the socket instead of running SELECT 1 before every request)."""

import time

import psycopg
import pytest
from django.db import connection

from anpr.tests.test_device_stack import post_read

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: its persistent connections are what is tested",
)


def _terminate_our_backend():
    pid = connection.connection.info.backend_pid
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    time.sleep(0.2)  # the server's goodbye reaches our socket


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_ended_is_replaced_before_the_next_request(device_with_key, camera):

    _, key = device_with_key

    def post(event_id):
        return post_read(key, camera, event_id)

    assert post("health-1")[0] == 201
    assert connection.connection is not None and connection.is_usable()  # kept, and quiet
    _terminate_our_backend()
    assert not connection.is_usable()
    status, _, content = post("health-2")
    assert status == 201, content
