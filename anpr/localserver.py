"""Our own servers on loopback, for the benchmark commands and the tests that drive a real
server: a free port to bind, and waiting until the server answers."""

import socket
import subprocess
import time
from collections.abc import Sequence

import requests


class ServerDidNotStart(RuntimeError):
    """A server exited at start, or did not answer in time."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(
    url: str, *, processes: Sequence[subprocess.Popen] = (), timeout: float = 30
) -> None:
    """Poll `url` until it answers 200. A refused connection or a slow answer means "still
    starting"; a process of `processes` that exits means it never will."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in processes):
            raise ServerDidNotStart(f"a server exited before {url} answered")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise ServerDidNotStart(f"{url} did not answer within {timeout:g} s")
