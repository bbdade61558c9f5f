"""compose.yaml's topology, really run: Debian's nginx with deploy/nginx.conf in front of
gunicorn (deploy/gunicorn.conf.py), daphne, a Celery worker and beat, on PostgreSQL and Redis.

Each process is started with its compose service's command and environment; only what names
compose's network and volumes changes (free loopback ports, folders under tmp_path, a database
of the module's own). Everything a device, a viewer and an outsider meet goes through nginx.
The processes start once for the module and always stop at its end; a failed test prints the
end of every process's log.
"""

import gzip
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
import requests
import yaml
from django.conf import settings
from websockets.sync.client import connect as websocket_connect

from anpr.localserver import ServerDidNotStart, free_port, wait_until_up
from conftest import require_service
from events.tests.images import image_bytes
from exporters.tests.sink import Sink

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
PLATE_RECOGNIZER_SAMPLE = ROOT / "events/tests/payloads/platerecognizer_snapshot_webhook.json"
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

        return _wait_for(entry, timeout=5, message=f"nginx to log {fields}")

    def app_log(self) -> list[dict]:
        """The JSON log lines of gunicorn's Django."""
        return [json.loads(line) for line in self.log("web").splitlines() if line[:1] == "{"]


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


def _require_services() -> None:
    if not Path(NGINX).exists():
        require_service("nginx", "Debian's nginx is not installed (apt-get install nginx)")
    if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        require_service("PostgreSQL", "DATABASE_URL does not point at PostgreSQL")
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping()
    except (redis.RedisError, ValueError) as error:
        require_service("Redis", f"REDIS_URL does not answer: {error}")


def _log_tails(logs: Path, lines: int = 40) -> str:
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


@pytest.fixture(scope="module")
def topology(request, tmp_path_factory):
    _require_services()
    tmp = tmp_path_factory.mktemp("topology")
    logs = tmp / "logs"
    for folder in (logs, tmp / "nginx", tmp / "media", tmp / "static", tmp / "data"):
        folder.mkdir()
    database = f"{settings.DATABASES['default']['NAME']}_topology_{uuid.uuid4().hex[:8]}"
    ports = {}
    while len(set(ports.values())) < 3:  # three different ones
        ports = {"nginx": free_port(), "web": free_port(), "websocket": free_port()}
    variables, local, replaced = _environment(tmp, ports, database)
    base = {k: v for k, v in os.environ.items() if k not in {"DB_CONNECTIONS", "DEBUG"}}
    failed_before = request.session.testsfailed
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
            pytest.fail(f"{error}\n{_log_tails(logs)}", pytrace=False)
        yield Topology(
            url=f"http://127.0.0.1:{ports['nginx']}",
            web_url=f"http://127.0.0.1:{ports['web']}",
            folder=tmp,
            device_key=made["device_key"],
            token=made["token"],
            sink=sink,
        )
        if request.session.testsfailed > failed_before:
            capture = request.config.pluginmanager.get_plugin("capturemanager")
            reporter = request.config.pluginmanager.get_plugin("terminalreporter")
            with capture.global_and_fixture_disabled():
                reporter.write_line(f"\nLogs of the topology ({logs}):\n{_log_tails(logs)}")


# --- Helpers ----------------------------------------------------------------------------------


def _read(plate: str) -> dict:
    """A device's read in our own format, just captured."""
    return {
        "event_id": uuid.uuid4().hex,
        "plate": plate,
        "captured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2)),
        "confidence": 0.93,
    }


def _signed_in(topology: Topology) -> requests.Session:
    """A viewer signed in through the sign-in page, sending Origin as a browser does."""
    session = requests.Session()
    assert session.get(f"{topology.url}/login/", timeout=10).status_code == 200
    response = session.post(
        f"{topology.url}/login/",
        data={
            "username": "viewer",
            "password": VIEWER_PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Origin": topology.url, "Referer": f"{topology.url}/login/"},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text[:500]
    return session


def _wait_for(condition, *, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"waited {timeout:g} s for {message}")


# --- Tests ------------------------------------------------------------------------------------


def test_a_device_read_by_header_key_and_by_key_in_the_path_with_the_key_kept_out_of_logs(
    topology,
):
    key = topology.device_key
    by_header = requests.post(
        f"{topology.url}/api/events/ingest/",
        json=_read("HDR001"),
        headers={"X-API-Key": key},
        timeout=10,
    )
    in_path = requests.post(
        f"{topology.url}/api/events/ingest/{key}/", json=_read("PTH001"), timeout=10
    )
    assert (by_header.status_code, in_path.status_code) == (201, 201), in_path.text

    topology.wait_for_access(path="/api/events/ingest/", status=201)
    topology.wait_for_access(path="/api/events/ingest/***/", status=201)
    for log in (topology.folder / "logs").glob("*.log"):
        assert key not in log.read_text(errors="replace"), f"the device key is in {log.name}"


def _stream(topology: Topology, headers: dict):
    """A client of the live stream through nginx, from the site's own origin."""
    return websocket_connect(
        f"{topology.url.replace('http', 'ws', 1)}/ws/events/",
        origin=topology.url,
        additional_headers=headers,
        open_timeout=10,
    )


def _plates_received(client, wanted: set[str], timeout: float = 15) -> set[str]:
    """Plates of the event.created frames until `wanted` came (earlier reads may come too)."""
    plates: set[str] = set()
    deadline = time.monotonic() + timeout
    while not wanted <= plates and time.monotonic() < deadline:
        try:
            frame = json.loads(client.recv(timeout=deadline - time.monotonic()))
        except TimeoutError:
            break
        if frame["type"] == "event.created":
            plates.add(frame["event"]["plate"])
    return plates


def test_a_vendor_post_reaches_websocket_clients_through_nginx(topology):
    cookies = "; ".join(f"{k}={v}" for k, v in _signed_in(topology).cookies.items())
    wanted = {"765410", "830265"}  # the sample's two plates
    with (
        _stream(topology, {"Authorization": f"Bearer {topology.token}"}) as integration,
        _stream(topology, {"Cookie": cookies}) as live_map,  # the browser's map page
    ):
        response = requests.post(
            f"{topology.url}/api/ingest/platerecognizer/{topology.device_key}/",
            data=PLATE_RECOGNIZER_SAMPLE.read_bytes(),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        assert [r["status"] for r in response.json()["results"]] == ["created", "created"]
        assert wanted <= _plates_received(integration, wanted)
        assert wanted <= _plates_received(live_map, wanted)
    topology.wait_for_access(path="/api/ingest/platerecognizer/***/", status=201)
    assert topology.device_key not in topology.log("nginx-access")


def test_an_event_image_is_sent_by_nginx_to_a_signed_in_viewer_and_refused_to_anonymous(
    topology,
):
    picture = image_bytes()
    created = requests.post(
        f"{topology.url}/api/events/ingest/",
        data={"event": json.dumps(_read("IMG001"))},
        files={"plate_image": ("crop.jpg", picture, "image/jpeg")},
        headers={"X-API-Key": topology.device_key},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    image_url = f"{topology.url}/api/events/{created.json()['id']}/images/plate/"

    anonymous = requests.get(image_url, timeout=10)
    assert anonymous.status_code in (401, 403)
    assert anonymous.content != picture

    viewer = _signed_in(topology)
    served = viewer.get(image_url, timeout=10)
    assert served.status_code == 200, served.text[:300]
    assert served.content == picture
    assert served.headers["Content-Type"] == "image/jpeg"
    assert "X-Accel-Redirect" not in served.headers  # nginx followed it, the client never sees it
    assert "no-store" in served.headers["Cache-Control"]  # nginx's protected-media location

    stored = next((topology.folder / "media").rglob("*-plate.jpg"))
    internal = f"/protected-media/{stored.relative_to(topology.folder / 'media')}"
    assert requests.get(f"{topology.url}{internal}", timeout=10).status_code == 404


def test_static_files_are_served_by_nginx_not_by_gunicorn(topology):
    response = requests.get(f"{topology.url}/static/live/live_map.js", timeout=10)
    assert response.status_code == 200
    assert response.content == (topology.folder / "static/live/live_map.js").read_bytes()
    assert "Expires" in response.headers  # nginx's `expires 7d`
    assert "X-Request-ID" not in response.headers  # Django stamps everything it answers


def test_gunicorn_runs_with_the_deploy_configuration(topology):
    log = topology.log("web")
    assert "Using worker: sync" in log
    assert log.count("Booting worker") == 2  # WEB_CONCURRENCY
    assert "Control socket" not in log  # no management socket in the user's home


def test_metrics_are_not_reachable_through_nginx(topology):
    inside = requests.get(f"{topology.web_url}/metrics", timeout=10)
    assert inside.status_code == 200 and "anpr_" in inside.text  # the app would answer us

    for path, headers in (
        ("/metrics", {}),
        ("/metrics?format=text", {}),
        ("/ws/metrics", {}),
        ("/ws/metrics", {"Daphne-Root-Path": "/ws"}),
    ):
        response = requests.get(f"{topology.url}{path}", headers=headers, timeout=10)
        assert response.status_code == 404, (path, headers)
        assert "anpr_" not in response.text


def test_the_request_id_goes_end_to_end(topology):
    auth = {"Authorization": f"Bearer {topology.token}"}
    chosen = f"caller-{uuid.uuid4().hex}"
    kept = requests.get(
        f"{topology.url}/api/cameras/", headers={**auth, "X-Request-ID": chosen}, timeout=10
    )
    made = requests.get(f"{topology.url}/api/cameras/", headers=auth, timeout=10)
    assert kept.status_code == made.status_code == 200
    assert kept.headers["X-Request-ID"] == chosen
    generated = made.headers["X-Request-ID"]
    assert generated and generated != chosen

    for request_id in (chosen, generated):
        topology.wait_for_access(request_id=request_id, path="/api/cameras/", status=200)
        assert any(e.get("request_id") == request_id for e in topology.app_log())


def test_json_answers_are_gzipped_and_their_links_keep_the_public_address(topology):
    for plate in ("GZP001", "GZP002"):
        requests.post(
            f"{topology.url}/api/events/ingest/",
            json=_read(plate),
            headers={"X-API-Key": topology.device_key},
            timeout=10,
        ).raise_for_status()
    response = requests.get(
        f"{topology.url}/api/events/?page_size=1",
        headers={"Authorization": f"Bearer {topology.token}", "Accept-Encoding": "gzip"},
        stream=True,
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    body = json.loads(gzip.decompress(response.raw.read()))
    assert len(body["results"]) == 1
    assert body["next"].startswith(f"{topology.url}/api/events/?")  # nginx's port kept

    # Behind a load balancer that terminated TLS (README, "TLS and proxies"): https links.
    behind_tls = requests.get(
        f"{topology.url}/api/events/?page_size=1",
        headers={"Authorization": f"Bearer {topology.token}", "X-Forwarded-Proto": "https"},
        timeout=10,
    )
    assert behind_tls.json()["next"].startswith(f"https://{topology.url[7:]}/api/events/?")


def _declared_only(topology: Topology, path: str, length: int) -> str:
    """The answer to a POST that declares `length` bytes of body and sends none."""
    port = int(topology.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()
            + f"X-API-Key: {topology.device_key}\r\nContent-Type: application/json\r\n".encode()
            + f"Content-Length: {length}\r\n\r\n".encode()
        )
        return connection.recv(65536).decode(errors="replace")


def test_an_over_limit_body_is_refused_by_nginx_without_logging_a_key(topology):
    for path in ("/api/events/ingest/", f"/api/events/ingest/{topology.device_key}/"):
        answer = _declared_only(topology, path, 13_000_000)
        assert answer.startswith("HTTP/1.1 413"), answer[:200]
        assert "nginx" in answer  # nginx's own page: the body never reached the application
    topology.wait_for_access(path="/api/events/ingest/", status=413)
    topology.wait_for_access(path="/api/events/ingest/***/", status=413)
    # nginx's error log quotes the request line of what it refuses
    assert topology.device_key not in topology.log("nginx-error")


def test_the_worker_delivers_a_read_to_the_receiver_and_beat_keeps_time(topology):
    plate = f"EXP{uuid.uuid4().hex[:4].upper()}"
    response = requests.post(
        f"{topology.url}/api/events/ingest/",
        json=_read(plate),
        headers={"X-API-Key": topology.device_key},
        timeout=10,
    )
    assert response.status_code == 201, response.text

    def delivered():
        return [r for r in list(topology.sink.received) if plate.encode() in r.body]

    [delivery] = _wait_for(delivered, timeout=30, message=f"{plate} at the receiver")
    assert response.json()["id"] in delivery.body.decode()
    _wait_for(
        lambda: "Sending due task exporters-sweep" in topology.log("beat"),
        timeout=10,
        message="beat to send the delivery sweep",
    )
    _wait_for(
        lambda: "exporter_deliveries_sweep" in topology.log("worker"),
        timeout=10,
        message="the worker to run beat's sweep",
    )
