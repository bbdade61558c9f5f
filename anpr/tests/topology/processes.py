"""Starting compose.yaml's topology as local processes and stopping it again: each service's
command and environment from compose.yaml, deploy/nginx.conf made local, a database of its
own, and a handle (`Topology`) on what the tests reach and read."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
import yaml
from django.conf import settings

from anpr.localserver import ServerDidNotStart, free_port, wait_until_up
from conftest import require_service
from exporters.tests.sink import Sink

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
VIEWER_PASSWORD = "pw-for-tests-only"

# What compose's `migrate` service does, then who the tests act as and where exports go.
SETUP = """
import json, sys
import django
django.setup()
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from cameras.models import Camera
from cameras.services import device_create, user_token_issue
from exporters.models import ExporterConfig
call_command("migrate", interactive=False, verbosity=0)
call_command("collectstatic", interactive=False, verbosity=0)
camera = Camera.objects.create(slug="gate", name="Gate", latitude=51.5, longitude=-0.13)
_, device_key = device_create(name="gate-box", cameras=[camera])
viewer = User.objects.create_user("viewer", password=sys.argv[2])
viewer.groups.add(Group.objects.get(name="viewer"))
ExporterConfig.objects.create(name="receiver", url=sys.argv[1])
token = user_token_issue(user=viewer, name="topology test")
print(json.dumps({"device_key": device_key.key, "token": token.key}))
"""


@dataclass
class Topology:
    """The running topology as the tests reach it (URLs, the setup's key and token, the
    exporter's receiver) and read it (its processes' logs)."""

    url: str  # nginx
    web_url: str  # gunicorn, directly (as Prometheus inside the network)
    folder: Path  # logs/, media/, static/, ...
    device_key: str
    token: str
    sink: Sink

    def log(self, name: str) -> str:
        return (self.folder / "logs" / f"{name}.log").read_text(errors="replace")

    def access_log(self) -> list[dict]:
        """nginx's access log (compose sends it to stdout), one object per request."""
        return [json.loads(line) for line in self.log("nginx-access").splitlines() if line]

    def wait_for_access(self, **fields) -> dict:
        """The access log's entry with these fields (nginx writes it after the answer)."""

        def entry():
            return next((e for e in self.access_log() if fields.items() <= e.items()), None)

        return wait_for(entry, timeout=5, message=f"nginx to log {fields}")

    def app_log(self) -> list[dict]:
        """The JSON log lines of gunicorn's Django."""
        return [json.loads(line) for line in self.log("web").splitlines() if line[:1] == "{"]


def wait_for(condition, *, timeout: float, message: str):
    """The first true value of condition(), polled until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"waited {timeout:g} s for {message}")


# --- Starting and stopping ------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


def _interpolated(value, variables: dict[str, str]) -> str:
    """Compose's ${NAME:-default} and ${NAME:?message}, from `variables`."""

    def one(match):
        name, kind, default = match.groups()
        if variables.get(name):
            return variables[name]
        assert kind == "-", f"compose.yaml needs {name}, which the test does not set"
        return default

    return _VARIABLE.sub(one, str(value))


def _service(name: str, variables: dict, replaced: dict) -> tuple[list[str], dict[str, str]]:
    """A compose service's command (words in `replaced` swapped) and environment."""
    service = COMPOSE["services"][name]
    command = [_interpolated(word, variables) for word in service["command"]]
    command = [replaced.get(word, word) for word in command]
    if command[0] in {"gunicorn", "daphne", "celery"}:
        command[0] = str(BIN / command[0])
    elif command[0] == "python":  # the image's python: here, this test's
        command[0] = sys.executable
    environment = {
        key: _interpolated(value, variables) for key, value in service["environment"].items()
    }
    return command, environment


def _nginx_site(tmp: Path, ports: dict[str, int]) -> str:
    """deploy/nginx.conf with compose's listen port, service names and volumes made local."""
    text = (ROOT / "deploy/nginx.conf").read_text()
    for line, local in {
        "listen 80 default_server;": f"listen 127.0.0.1:{ports['nginx']} default_server;",
        "server web:8000;": f"server 127.0.0.1:{ports['web']};",
        "server websocket:8001;": f"server 127.0.0.1:{ports['websocket']};",
        "alias /srv/static/;": f"alias {tmp}/static/;",
        "alias /srv/media/;": f"alias {tmp}/media/;",
    }.items():
        assert text.count(line) == 1, f"deploy/nginx.conf should have {line!r} once"
        text = text.replace(line, local)
    return text


def _nginx_main(tmp: Path) -> str:
    """What the nginx image's own nginx.conf does around conf.d/default.conf, with every path
    under tmp. A root master runs its workers as `nobody`, who cannot read tmp_path."""
    temp = tmp / "nginx"
    return f"""
{"user root;" if os.geteuid() == 0 else ""}
daemon off;
worker_processes 1;
pid {temp}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {temp}/default.conf;
}}
"""


def _database_url(name: str) -> str:
    db = settings.DATABASES["default"]
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{quote(db['USER'])}{password}@{host}/{name}"


def _admin_sql(statement: str) -> None:
    with psycopg.connect(_database_url("postgres"), autocommit=True) as connection:
        connection.execute(statement)


def _stop_all(processes: list[subprocess.Popen]) -> None:
    """SIGTERM to every process group at once, SIGKILL to what is left after 15 s."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def require_services() -> None:
    if not Path(NGINX).exists():
        require_service("nginx", "Debian's nginx is not installed (apt-get install nginx)")
    if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        require_service("PostgreSQL", "DATABASE_URL does not point at PostgreSQL")
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping()
    except (redis.RedisError, ValueError) as error:
        require_service("Redis", f"REDIS_URL does not answer: {error}")


def log_tails(logs: Path, lines: int = 40) -> str:
    parts = []
    for path in sorted(logs.glob("*.log")):
        tail = path.read_text(errors="replace").splitlines()[-lines:]
        parts.append(f"--- {path.name} (last {len(tail)} lines)\n" + "\n".join(tail))
    return "\n".join(parts)


def _environment(tmp: Path, ports: dict[str, int], database: str) -> tuple[dict, dict, dict]:
    """(compose's variables, the environment over compose's, words replaced in commands)."""
    variables = {
        "SECRET_KEY": "topology-test-" + "x" * 40,
        "POSTGRES_PASSWORD": "unused-here",
        "WEB_CONCURRENCY": "2",
        "WORKER_CONCURRENCY": "1",
    }
    prefix = f"topology-{uuid.uuid4().hex[:8]}"  # Redis keys, queues and groups of our own
    local = {
        # What differs from the containers: this host's services and folders...
        "DATABASE_URL": _database_url(database),
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(tmp / "media"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prometheus"),
        "GUNICORN_BIND": f"127.0.0.1:{ports['web']}",
        # ...the image's own environment (Dockerfile)...
        "DJANGO_SETTINGS_MODULE": "anpr.settings",
        "DATA_DIR": str(tmp / "data"),
        "STATIC_ROOT": str(tmp / "static"),
        "LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
        # ...and the test's: a receiver on loopback, a sweep every second, no shared queues.
        "EXPORTER_ALLOWED_NETWORKS": "127.0.0.0/8",
        "EXPORTER_SWEEP_INTERVAL": "1",
        "CHANNEL_PREFIX": prefix,
        "CELERY_QUEUE": prefix,
    }
    replaced = {
        "0.0.0.0": "127.0.0.1",
        "8001": str(ports["websocket"]),
        "/tmp/celerybeat-schedule": str(tmp / "celerybeat-schedule"),
    }
    return variables, local, replaced


def _popen(command: list[str], stdout: Path, stderr: Path | None = None, **kwargs):
    """A process in a session of its own (stopped with its children), logging to files."""
    with open(stdout, "ab") as out, open(stderr or stdout, "ab") as err:
        return subprocess.Popen(command, stdout=out, stderr=err, start_new_session=True, **kwargs)


class TopologyDidNotStart(RuntimeError):
    """A process exited at start, or a server did not answer in time (the logs' ends say why)."""


@contextmanager
def topology_running(tmp: Path) -> Iterator[Topology]:
    """compose.yaml's services started as processes under `tmp`, stopped (and the database
    dropped) on the way out."""
    require_services()
    logs = tmp / "logs"
    for folder in (logs, tmp / "nginx", tmp / "media", tmp / "static", tmp / "data"):
        folder.mkdir()
    database = f"{settings.DATABASES['default']['NAME']}_topology_{uuid.uuid4().hex[:8]}"
    ports = {}
    while len(set(ports.values())) < 3:  # three different ones
        ports = {"nginx": free_port(), "web": free_port(), "websocket": free_port()}
    variables, local, replaced = _environment(tmp, ports, database)
    base = {k: v for k, v in os.environ.items() if k not in {"DB_CONNECTIONS", "DEBUG"}}
    with ExitStack() as stack:
        sink = Sink()
        stack.callback(sink.stop)
        _admin_sql(f'CREATE DATABASE "{database}"')
        stack.callback(_admin_sql, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        started: list[subprocess.Popen] = []
        stack.callback(_stop_all, started)

        _, environment = _service("migrate", variables, replaced)
        setup = subprocess.run(
            [sys.executable, "-c", SETUP, sink.url, VIEWER_PASSWORD],
            cwd=ROOT,
            env={**base, **environment, **local},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert setup.returncode == 0, setup.stdout + setup.stderr
        made = json.loads(setup.stdout.strip().splitlines()[-1])
        for role in ("web", "websocket", "worker", "beat"):
            command, environment = _service(role, variables, replaced)
            env = {**base, **environment, **local}
            started.append(_popen(command, logs / f"{role}.log", cwd=ROOT, env=env))
        (tmp / "nginx/default.conf").write_text(_nginx_site(tmp, ports))
        (tmp / "nginx/nginx.conf").write_text(_nginx_main(tmp))
        # The access log to stdout and the error log to stderr, as in the nginx image.
        errors = logs / "nginx-error.log"
        nginx = [NGINX, "-p", f"{tmp}/nginx", "-c", f"{tmp}/nginx/nginx.conf", "-e", str(errors)]
        started.append(_popen(nginx, logs / "nginx-access.log", errors))
        try:
            for port in (ports["web"], ports["websocket"], ports["nginx"]):
                wait_until_up(f"http://127.0.0.1:{port}/health", processes=started, timeout=45)
        except ServerDidNotStart as error:
            raise TopologyDidNotStart(f"{error}\n{log_tails(logs)}") from None
        yield Topology(
            url=f"http://127.0.0.1:{ports['nginx']}",
            web_url=f"http://127.0.0.1:{ports['web']}",
            folder=tmp,
            device_key=made["device_key"],
            token=made["token"],
            sink=sink,
        )
