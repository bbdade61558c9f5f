"""anpr.asgi.application puts right what the ASGI server hands it: the script prefix is ours,
never a client's `Daphne-Root-Path`."""

import pytest
import requests
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator

from anpr.asgi import application
from anpr.tests.servers import serving

pytestmark = pytest.mark.django_db


def http_get(path: str, *, root_path: str = "", headers=()) -> int:
    """The status of a GET on the ASGI application from loopback (where /metrics answers)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": root_path,
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }

    async def scenario():
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "http.request", "body": b""})
        start = await communicator.receive_output(timeout=10)
        await communicator.wait(timeout=10)
        return start["status"]

    return async_to_sync(scenario)()


@pytest.mark.parametrize("path", ["/metrics", "/admin/login/"])
def test_a_client_set_daphne_root_path_does_not_reach_other_locations(path):
    """daphne makes `Daphne-Root-Path: /ws` the scope's root_path (and drops the header);
    /ws/metrics and /ws/admin/login/ must stay unknown paths, not /metrics and /admin/login/."""
    assert http_get(path) == 200  # served at its own path
    assert http_get(f"/ws{path}", root_path="/ws") == 404


def test_daphne_itself_does_not_serve_metrics_under_a_client_set_root_path():
    with serving("daphne") as port:
        site = f"http://127.0.0.1:{port}"
        assert requests.get(f"{site}/admin/login/", timeout=10).status_code == 200
        for path in ("/ws/metrics", "/ws/admin/login/"):
            shifted = requests.get(site + path, headers={"Daphne-Root-Path": "/ws"}, timeout=10)
            assert shifted.status_code == 404, path
