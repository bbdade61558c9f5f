"""The servers a benchmark measures, started as in production, and the reference peer.

`gunicorn_running` is the HTTP server of `benchmark ingest/queries`; `LiveServers` are daphne
(and gunicorn) of `benchmark_live`; `peer_run` runs ../shared/reference-peer/run.sh, whose
RESULT line has the same shape as our wrk scripts' (`result_line_parse`).
"""

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError, OutputWrapper

from anpr.localserver import ServerDidNotStart, free_port, wait_until_up

GUNICORN_CONF = settings.BASE_DIR / "deploy" / "gunicorn.conf.py"


@contextmanager
def gunicorn_running(*, workers: int, stdout: OutputWrapper) -> Iterator[str]:
    """gunicorn on anpr.wsgi with the production configuration (deploy/gunicorn.conf.py) and
    persistent connections, on a free port; yields its base URL and stops it at the end."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    if not shutil.which("gunicorn") and not gunicorn.exists():
        raise CommandError("gunicorn is not installed (pip install gunicorn).")
    port = free_port()
    env = {
        **os.environ,
        "DB_CONNECTIONS": "persistent",
        # One device posts everything here: lift its rate limit out of the way (the throttle
        # itself still runs, with its cache round trip).
        "INGEST_THROTTLE_RATE": "100000000/min",
        # One viewer asks every export of `benchmark queries`: the same for its export limit.
        "CSV_EXPORT_THROTTLE_RATE": "100000000/min",
        "LOG_LEVEL": "WARNING",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(workers),
    }
    conf = GUNICORN_CONF
    process = subprocess.Popen(
        [
            str(gunicorn),
            *(["-c", str(conf)] if conf.exists() else []),
            "anpr.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--backlog",
            "2048",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=settings.BASE_DIR,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(url + "/health", processes=[process])
        except ServerDidNotStart as error:
            raise CommandError(f"gunicorn: {error}.") from None
        stdout.write(
            f"== server: gunicorn anpr.wsgi ({conf.name if conf.exists() else 'defaults'}"
            f"), {workers} sync workers at {url}"
        )
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


class LiveServers:
    """daphne (websockets, and HTTP in the embedded mode) and gunicorn (HTTP ingest)."""

    ws_path = "/ws/events/"

    def __init__(self, *, http_workers: int, ws_servers: int, log_dir: Path):
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "anpr.settings",
            "INGEST_THROTTLE_RATE": "",
            "LOG_LEVEL": "WARNING",
        }
        # Several daphne processes stand for replicas of the websocket service behind nginx.
        self.ws_ports = [free_port() for _ in range(ws_servers)]
        self.ws_port = self.ws_ports[0]
        self.production = bool(settings.REDIS_URL)
        self.http_port = free_port() if self.production else self.ws_port
        self.http_workers = http_workers
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for port in self.ws_ports:
            daphne = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
            self._spawn("daphne", [*daphne, "anpr.asgi:application"])
        if self.production:
            self._spawn(
                "gunicorn",
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "anpr.wsgi:application",
                    # The production configuration, on a free port.
                    "--config",
                    str(GUNICORN_CONF),
                    "--workers",
                    str(self.http_workers),
                    "--bind",
                    f"127.0.0.1:{self.http_port}",
                ],
            )
        for port in {*self.ws_ports, self.http_port}:
            self._wait(f"http://127.0.0.1:{port}/health")

    def _spawn(self, name: str, command: list[str]) -> None:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (lives as long as the server)
        self.processes.append(
            subprocess.Popen(command, cwd=settings.BASE_DIR, env=self.env, stdout=log, stderr=log)
        )

    def _wait(self, url: str) -> None:
        try:
            wait_until_up(url, processes=self.processes, timeout=60)
        except ServerDidNotStart as error:
            raise CommandError(f"{error}; see {self.log_dir}") from None

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def peer_run(*, duration: int, clients: int) -> dict:
    """One run of the reference peer (../shared/reference-peer/run.sh): its RESULT figures."""
    script = settings.BASE_DIR.parent / "shared" / "reference-peer" / "run.sh"
    if not script.exists():
        raise CommandError(f"{script} not found.")
    output = subprocess.run(
        [str(script), str(duration), str(clients)],
        capture_output=True,
        text=True,
        timeout=duration + 600,
    ).stdout
    return result_line_parse(output, source="The peer")


def result_line_parse(output: str, *, source: str) -> dict:
    """The figures of the `RESULT req_per_s=... p50_ms=...` line that wrk's scripts (ours and
    the peer's) print at the end."""
    match = re.search(r"RESULT .*", output)
    if not match:
        raise CommandError(f"{source} printed no RESULT line:\n{output[-2000:]}")
    return {key: float(value) for key, value in re.findall(r"(\w+)=([\d.]+)", match.group(0))}
