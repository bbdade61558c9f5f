"""`manage.py serve --live` as a newcomer runs it, in a subprocess on a fresh database: the
one-time password and device keys are the last lines once the server and worker are up, idle
periodic tasks print nothing, the demo devices post through the API so their cameras turn
online, and one Ctrl-C stops everything with Celery's shutdown printed once."""

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests

from anpr.localserver import free_port
from events.tests.browser import ROOT, ServerStack

CAMERAS_ONLINE = """
import json
from datetime import timedelta
from django.utils import timezone
from cameras.models import Camera, DeviceKey
from events.models import PlateEvent
recent = timezone.now() - timedelta(seconds=60)
live = PlateEvent.objects.filter(idempotency_key__startswith="demo-live-")
online = Camera.objects.filter(last_seen_at__gte=recent).values_list("slug", flat=True)
posted_to = live.values_list("camera__slug", flat=True).distinct()
print(json.dumps({
    "online": sorted(online),
    "posted_to": sorted(set(posted_to)),
    "posted": live.count(),
    "with_images": live.exclude(plate_image="").exclude(frame_image="").count(),
    "live_keys": DeviceKey.objects.filter(revoked_at__isnull=True).count(),
}))
"""


class Output:
    """A child's merged stdout and stderr, line by line, as a terminal would show it."""

    def __init__(self, process: subprocess.Popen):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process):
        for line in process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, *, count: int = 1, timeout: float = 120) -> int:
        """Index of the count-th line matching pattern."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [i for i, line in enumerate(self.lines) if re.search(pattern, line)]
            if len(found) >= count:
                return found[count - 1]
            time.sleep(0.2)
        raise AssertionError(f"no {pattern!r} ×{count} in:\n" + "\n".join(self.lines))


@pytest.fixture
def stack(tmp_path):
    server = ServerStack(tmp_path)
    server.env.pop("LOG_LEVEL")  # as a newcomer's shell has it
    server.env["EXPORTER_SWEEP_INTERVAL"] = "1"  # an idle sweep every second
    server.create()
    yield server
    server.destroy()


def test_serve_live_prints_credentials_last_posts_through_the_api_and_stops_once(stack):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port), "--live"],
        cwd=ROOT,
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        process_group=0,  # as a terminal's foreground job
    )
    output = Output(process)
    try:
        password_at = output.wait_for(r"Created the admin user 'admin' with password", count=2)
        lines = output.lines
        announced = output.wait_for(r"^Ctrl-C stops everything\.$")
        # First printed while loading, then again as the last lines, once all is up.
        first = [
            line for line in lines[:announced] if re.match(r"Created the admin|Device demo-", line)
        ]
        assert len(first) == 3 and first[0].startswith("Created the admin user")
        assert announced > output.wait_for(r"celery@\S+ ready\.")
        assert lines[announced + 1 : announced + 4] == first
        assert password_at == announced + 1
        assert not any("-------------- celery@" in line for line in lines)  # no banner

        # The demo devices post through the API: their cameras turn online, some reads
        # carry pictures. Meanwhile the idle sweep (every second) prints nothing.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = stack.django(CAMERAS_ONLINE)
            if len(state["posted_to"]) >= 4 and state["with_images"]:
                break
            time.sleep(1)
        # (The demo's cameras were last seen at their latest stored read, maybe just now.)
        assert len(state["posted_to"]) >= 4 and set(state["posted_to"]) <= set(state["online"])
        assert state["with_images"] >= 1 and state["posted"] >= 4
        assert state["live_keys"] == 4  # the demo's two, and the two issued for this run
        assert not [line for line in output.lines if "exporter_deliveries_sweep" in line]
        assert not [line for line in output.lines if "Sending due task" in line]
        after = output.lines[announced + 4 :]
        assert all("Statistics rollup" in line for line in after), after

        # One Ctrl-C: the terminal sends SIGINT to the whole foreground process group.
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:  # a failed assertion: stop it as a terminal's Ctrl-C would
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    time.sleep(0.5)
    assert sum("Warm shutdown" in line for line in output.lines) == 1, output.lines
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/liveness", timeout=2)
    assert stack.django(CAMERAS_ONLINE)["live_keys"] == 2  # this run's keys are revoked
