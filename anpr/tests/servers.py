"""Our real servers on loopback for a test: daphne as `manage.py serve` and compose run it,
gunicorn on anpr.wsgi, and `manage.py runserver`."""

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from anpr.localserver import free_port, wait_until_up

ROOT = Path(__file__).resolve().parents[2]
SERVERS = {  # the command line of each, given its port
    "daphne": lambda port: [
        *("-m", "anpr.daphne_server", "-p", str(port), "--access-log", os.devnull),
        "anpr.asgi:application",
    ],
    "gunicorn": lambda port: ["-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "anpr.wsgi"],
    "runserver": lambda port: ["manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
}


@contextlib.contextmanager
def serving(server: str, **environment: str) -> Iterator[int]:
    """The port of a real `server` (a key of SERVERS) with these environment variables added,
    answering /health, until the block ends."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, *SERVERS[server](port)],
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
