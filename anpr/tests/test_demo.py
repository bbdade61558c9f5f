"""The demo that looks alive: drawn images on the demo's reads, the live demo devices as an
HTTP client (a server that starts late, 429/503 answers), and the periodic tasks quiet when
they have nothing to do."""

import io
import json
import logging
import subprocess
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone
from PIL import Image

from anpr.celery import PeriodicNoiseFilter
from anpr.demo_content import plate_crop_jpeg, scene_frame_jpeg
from anpr.demo_live import DemoPoster
from anpr.localserver import free_port
from events.models import PlateEvent, event_image_name


@pytest.mark.django_db
def test_demo_reads_have_images_that_decode(settings):
    call_command(
        "demo_data", "--events", "300", "--days", "2", "--images", "20", stdout=io.StringIO()
    )
    with_images = PlateEvent.objects.exclude(plate_image="").select_related("camera")
    assert with_images.count() == 20
    assert PlateEvent.objects.exclude(frame_image="").count() == 20
    newest_without = PlateEvent.objects.filter(plate_image="").order_by("-captured_at").first()
    assert all(e.captured_at >= newest_without.captured_at for e in with_images)
    for event in with_images:
        for kind, size in (("plate", (240, 52)), ("frame", (640, 360))):
            name = getattr(event, f"{kind}_image").name
            assert name == event_image_name(
                camera_slug=event.camera.slug,
                captured_at=event.captured_at,
                event_id=event.id,
                kind=kind,
                extension="jpg",
            )
            with default_storage.open(name) as stored, Image.open(stored) as picture:
                picture.load()
                assert picture.format == "JPEG" and picture.size == size


def test_demo_pictures_are_the_same_for_the_same_seed():
    assert plate_crop_jpeg("1-KBB-23", country="NL") == plate_crop_jpeg("1-KBB-23", country="NL")
    one = scene_frame_jpeg("GF-123-K", country="NL", vehicle_type="van", color="red", seed=7)
    assert one == scene_frame_jpeg(
        "GF-123-K", country="NL", vehicle_type="van", color="red", seed=7
    )
    assert one != scene_frame_jpeg(
        "GF-123-K", country="NL", vehicle_type="van", color="red", seed=8
    )


class FakeServer(BaseHTTPRequestHandler):
    """Answers the config pull with 503 once and the first read with 429 once (each with
    Retry-After: 1), then as the real API does."""

    log: list = []
    config = {"cameras": [{"slug": "damrak", "status": "active", "zones": [{"name": "Lane"}]}]}

    def _answer(self, status, body=b"{}", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.log.append(("GET", self.path, time.monotonic(), self.headers.get("Authorization")))
        if sum(1 for entry in self.log if entry[0] == "GET") == 1:
            return self._answer(503, headers=[("Retry-After", "1")])
        self._answer(200, json.dumps(self.config).encode(), [("ETag", '"v1"')])

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.log.append(("POST", self.path, time.monotonic(), body))
        if sum(1 for entry in self.log if entry[0] == "POST") == 1:
            return self._answer(429, headers=[("Retry-After", "1")])
        self._answer(201)

    def log_message(self, *args):
        pass


def test_demo_devices_wait_for_the_server_and_back_off_when_told():
    port = free_port()
    FakeServer.log = []
    poster = DemoPoster(url=f"http://127.0.0.1:{port}", keys={"box": "k1"}, interval=0.2, seed=1)
    stop = threading.Event()
    thread = threading.Thread(target=poster.run, args=(stop,))
    thread.start()
    try:
        time.sleep(1.0)  # the server is not up yet: refused connections, retried
        server = ThreadingHTTPServer(("127.0.0.1", port), FakeServer)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        deadline = time.monotonic() + 20
        while sum(1 for e in FakeServer.log if e[0] == "POST") < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=10)
        server.shutdown()
    assert not thread.is_alive()
    log = FakeServer.log
    gets = [entry for entry in log if entry[0] == "GET"]
    posts = [entry for entry in log if entry[0] == "POST"]
    assert gets[0][1] == "/api/devices/me/config/" and gets[0][3] == "Token k1"
    assert gets[1][2] - gets[0][2] >= 0.75  # Retry-After: 1 (with jitter), not at once
    assert len(posts) >= 3 and posts[1][2] - posts[0][2] >= 0.75
    assert all(entry[1] == "/api/events/ingest/" for entry in posts)
    # The first read of a device carries pictures (multipart); the next ones are JSON.
    assert b'name="plate_image"' in posts[0][3] and b"damrak" in posts[0][3]
    read = json.loads(posts[2][3])
    assert read["camera"] == "damrak" and read["zone"] == "Lane" and read["plate"]


class Scripted(FakeServer):
    """Answers from a script, (method, status, body, Retry-After), then as the real API."""

    script: list = []

    def _scripted(self, method: str) -> bool:
        if not (self.script and self.script[0][0] == method):
            return False
        _, status, body, retry_after = self.script.pop(0)
        headers = [("Content-Type", "application/json")]
        self._answer(
            status, body, headers + ([("Retry-After", retry_after)] if retry_after else [])
        )
        return True

    def do_GET(self):
        self.log.append(("GET", self.path, time.monotonic()))
        if not self._scripted("GET"):
            self._answer(200, json.dumps(self.config).encode(), [("ETag", '"v1"')])

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.log.append(("POST", self.path, time.monotonic()))
        if not self._scripted("POST"):
            self._answer(201)


def _post_against(script: list, *, until, timeout: float = 20) -> tuple[list, bool]:
    """Run a poster against a Scripted server until `until(log)`; (log, poster ended by
    itself)."""
    Scripted.log, Scripted.script = [], list(script)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    poster = DemoPoster(url=url, keys={"box": "k1"}, interval=0.2, seed=1)
    stop = threading.Event()
    thread = threading.Thread(target=poster.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + timeout
    while not until(Scripted.log) and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    ended = not thread.is_alive()
    stop.set()
    thread.join(timeout=10)
    server.shutdown()
    return Scripted.log, ended


def test_demo_devices_outlast_server_errors_and_malformed_configurations(caplog):
    error = json.dumps({"error": "server_error", "detail": "Something broke."}).encode()
    script = [
        ("GET", 200, b"<html>", None),
        ("GET", 500, error, "1"),
        ("GET", 200, b'{"no": "cameras"}', None),
        ("GET", 200, json.dumps(FakeServer.config).encode(), None),
        ("POST", 500, error, "1"),
    ]
    log, ended = _post_against(
        script, until=lambda log: sum(1 for e in log if e[0] == "POST") >= 3, timeout=30
    )
    assert not ended
    gets = [e[2] for e in log if e[0] == "GET"]
    posts = [e[2] for e in log if e[0] == "POST"]
    assert len(gets) == 4 and len(posts) >= 3  # posting again after the refusal
    assert gets[1] - gets[0] >= 1.5  # backed off (2 s ± 20 %) ...
    assert 0.75 <= gets[2] - gets[1] < 1.5  # ... or as long as Retry-After said
    assert gets[3] - gets[2] >= 6  # the third failure in a row: 8 s
    assert posts[1] - posts[0] >= 0.75
    warnings = [r.getMessage() for r in caplog.records if r.name == "anpr.demo_live"]
    assert warnings == [  # one line per outage
        "Demo device box: the server answered 200 (malformed configuration); retrying.",
        "Demo devices: the server answers again.",
    ]


def test_demo_devices_stop_when_their_key_is_refused(caplog):
    refused = json.dumps({"error": "not_authenticated"}).encode()
    log, ended = _post_against([("GET", 401, refused, None)], until=lambda log: False, timeout=5)
    assert ended and len(log) == 1
    assert [r.getMessage() for r in caplog.records if r.name == "anpr.demo_live"] == [
        "Demo devices: the server refused the key (401); stopped posting."
    ]
    # A key revoked while posting: the same.
    log, ended = _post_against([("POST", 403, refused, None)], until=lambda log: False, timeout=5)
    assert ended and [e[0] for e in log] == ["GET", "POST"]


@pytest.mark.django_db
def test_a_live_run_revokes_the_keys_an_earlier_killed_run_left_live(device_with_key):
    from anpr.demo_live import demo_keys_issue
    from cameras.models import DeviceKey

    call_command("demo_data", "--events", "0", stdout=io.StringIO())
    live = DeviceKey.objects.filter(revoked_at__isnull=True)
    before = set(live.values_list("pk", flat=True))  # the demo's keys, the fixture's
    killed_run = {record.pk for _, _, record in demo_keys_issue()}
    this_run = {record.pk for _, _, record in demo_keys_issue()}
    assert set(live.values_list("pk", flat=True)) == before | this_run
    assert not killed_run & set(live.values_list("pk", flat=True))


def test_serve_keeps_serving_when_the_demo_devices_stop(capsys):
    from anpr.management.commands.serve import Command

    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3)"])
    poster = subprocess.Popen([sys.executable, "-c", "pass"])
    started = time.monotonic()
    try:
        Command()._wait([server], poster=poster)
    finally:
        server.kill()
    assert time.monotonic() - started >= 2.5  # until the server ended, not the poster
    assert capsys.readouterr().err.count("demo devices stopped posting (exit code 0)") == 1


def _record(logger: str, message: str, args, level=logging.INFO) -> logging.LogRecord:
    return logging.LogRecord(logger, level, __file__, 1, message, args, None)


def test_celerys_lines_about_idle_periodic_tasks_are_dropped():
    quiet = PeriodicNoiseFilter().filter
    sweep = "exporters.tasks.exporter_deliveries_sweep"
    received = "Task %(name)s[%(id)s] received"
    assert not quiet(_record("celery.worker.strategy", received, ({"name": sweep, "id": "1"},)))
    succeeded = "Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s"
    rollup = {"name": "events.tasks.event_statistics_rollup", "id": "2", "runtime": 0.1}
    assert not quiet(_record("celery.app.trace", succeeded, (rollup | {"return_value": 0},)))
    beat = "Scheduler: Sending due task %s (%s)"
    assert not quiet(_record("celery.beat", beat, ("exporters-sweep", sweep)))
    # Other tasks, and any failure of these, still show.
    assert quiet(_record("celery.worker.strategy", received, ({"name": "x.deliver", "id": "3"},)))
    assert quiet(_record("celery.beat", beat, ("events-purge", "events.tasks.events_purge")))
    failed = "Task %(name)s[%(id)s] raised unexpected: %(exc)s"
    assert quiet(_record("celery.app.trace", failed, ({"name": sweep, "id": "4"},), logging.ERROR))


@pytest.mark.django_db
def test_the_sweep_and_rollup_log_only_when_they_did_something(caplog, device_with_key):
    from events.reads import ReadIn
    from events.services.ingest import plate_events_ingest
    from events.tasks import event_statistics_rollup_task
    from exporters.tasks import exporter_deliveries_sweep

    device, _ = device_with_key
    caplog.set_level(logging.DEBUG)
    exporter_deliveries_sweep()
    event_statistics_rollup_task()
    assert [r for r in caplog.records if r.name in ("events.tasks", "exporters.tasks")] == []
    caplog.clear()
    captured = (timezone.now() - timedelta(hours=1)).isoformat()
    plate_events_ingest(
        device=device, reads=[ReadIn(plate="AB12CDE", captured_at=captured, event_id="log-1")]
    )
    event_statistics_rollup_task()
    assert [r.getMessage() for r in caplog.records if r.name == "events.tasks"] == [
        "Statistics rollup: 1 hourly buckets recomputed."
    ]


@pytest.mark.django_db
def test_demo_data_live_posts_with_fresh_keys_until_ctrl_c_then_revokes_them(monkeypatch):
    from cameras.models import DeviceKey

    call_command("demo_data", "--events", "0", stdout=io.StringIO())
    posted_with = {}

    def post_until_ctrl_c(*, url, keys):
        posted_with.update(keys, url=url)
        assert DeviceKey.objects.filter(revoked_at__isnull=True).count() == 4
        raise KeyboardInterrupt

    monkeypatch.setattr("anpr.demo_live.demo_post_forever", post_until_ctrl_c)
    out = io.StringIO()
    call_command("demo_data", "--live", "--url", "http://127.0.0.1:9", stdout=out)
    assert posted_with["url"] == "http://127.0.0.1:9"
    assert {"demo-edge-north", "demo-edge-south"} <= posted_with.keys()
    assert DeviceKey.objects.filter(revoked_at__isnull=True).count() == 2  # the demo's own
    assert "keys for this run are revoked" in out.getvalue()


@pytest.mark.django_db
def test_demo_cameras_were_last_seen_at_their_latest_read():
    from django.db.models import Max

    from cameras.models import Camera

    call_command(
        "demo_data", "--events", "200", "--days", "1", "--images", "0", stdout=io.StringIO()
    )
    latest = dict(
        PlateEvent.objects.values_list("camera").annotate(latest=Max("received_at")).order_by()
    )
    assert latest and {c.pk: c.last_seen_at for c in Camera.objects.all()} == {
        pk: latest.get(pk) for pk in Camera.objects.values_list("pk", flat=True)
    }


@pytest.mark.django_db
def test_the_demo_has_a_watchlist_with_open_hits_on_its_latest_reads():
    from watchlists.models import Hit, RejectReason

    out = io.StringIO()
    call_command("demo_data", "--events", "300", "--days", "2", "--images", "20", stdout=out)
    hits = Hit.objects.select_related("event")
    assert hits.exists() and "watchlist hits" in out.getvalue()
    assert {hit.watchlist.name for hit in hits} == {"Stolen vehicles (demo)"}
    assert all(hit.status == "open" and hit.event is not None for hit in hits)
    # One entry was listed with an OCR-confusable character: its hits show the substitution.
    assert any(hit.snapshot["substituted"] for hit in hits)
    assert RejectReason.objects.filter(active=True).count() == 3


@pytest.mark.django_db
def test_the_demo_loads_again_where_an_earlier_demos_watchlist_was_kept():
    from watchlists.models import Hit, Watchlist

    # An operator cleared the earlier demo's cameras and reads but kept its list.
    Watchlist.objects.create(name="Stolen vehicles (demo)")
    small = ("--events", "200", "--days", "1", "--images", "5")
    call_command("demo_data", *small, stdout=io.StringIO())
    [watchlist] = Watchlist.objects.filter(name="Stolen vehicles (demo)")
    assert Hit.objects.filter(watchlist=watchlist).exists()
