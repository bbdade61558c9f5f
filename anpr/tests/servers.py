"""Our real servers on loopback for a test: daphne as `manage.py serve` and compose run it,
gunicorn on anpr.wsgi."""

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from anpr.localserver import free_port, wait_until_up

ROOT = Path(__file__).resolve().parents[2]
SERVERS = {
    "daphne": ["-m", "anpr.daphne_server", "--access-log", os.devnull, "anpr.asgi:application"],
    "gunicorn": ["-m", "gunicorn", "-w", "1", "anpr.wsgi"],
}


@contextlib.contextmanager
def serving(server: str, **environment: str) -> Iterator[int]:
    """The port of a real `server` (a key of SERVERS) with these environment variables added,
    answering /health, until the block ends."""
    port = free_port()
    bind = ["-b", f"127.0.0.1:{port}"] if server == "gunicorn" else ["-p", str(port)]
    process = subprocess.Popen(
        [sys.executable, *SERVERS[server][:2], *bind, *SERVERS[server][2:]],
        cwd=ROOT,
        env={**os.environ, **environment},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", processes=[process])
        yield port
    finally:
        process.terminate()
        process.wait(timeout=15)
