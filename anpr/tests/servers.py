"""Our real servers on loopback for a test: daphne as `manage.py serve` and compose run it,
gunicorn on anpr.wsgi, and `manage.py runserver`; and a redis-server a test may kill."""

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import redis

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


class RedisServer:
    """A redis-server on a port of its own that keeps nothing on disk: restarted, it is empty."""

    def __init__(self, folder):
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
