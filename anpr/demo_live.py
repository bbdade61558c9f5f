"""The demo's edge devices, alive: they pull their configuration and post a read every few
seconds through the real HTTP API, as an edge agent would, so that their cameras show online
and the live map moves (`manage.py serve --live`, `manage.py demo_data --live`).

Only the key handling touches the database (keys are stored hashed, so each run issues its
own, named, revokes them at the end and revokes an earlier run's at the start); the posting
loop is a plain HTTP client. It waits for a server that is not up yet, backs off on any
unexpected answer (honouring Retry-After) and on network errors, and stops (exit 0) only
when the server refuses its key.
`serve` runs it as a child process: `python -m anpr.demo_live URL`, keys as JSON on stdin.
"""

import json
import logging
import os
import random
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests

from anpr.demo_content import plate_crop_jpeg, scene_frame_jpeg, vehicle_pick
from core.ids import ascii_integer

logger = logging.getLogger("anpr.demo_live")

#: The devices `manage.py demo_data` creates.
DEMO_DEVICES = ("demo-edge-north", "demo-edge-south")
#: Seconds between two reads of one device (the two devices take turns).
POST_INTERVAL = 4.0
#: Seconds between configuration pulls (an unchanged configuration is a 304).
CONFIG_INTERVAL = 60.0
#: One read in this many carries a plate crop and a frame (multipart).
IMAGE_EVERY = 3
BACKOFF_MAX = 30.0
UNREACHABLE_WARN_AFTER = 5


#: The name of the keys this module issues, so that a later run can revoke them.
DEMO_KEY_NAME = "demo --live"


def demo_keys_issue() -> list[tuple[str, str, object]]:
    """(device name, key, key record) for each demo device, a fresh key each. The keys an
    earlier run issued are revoked first: a run killed outright could not revoke its own."""
    from cameras.models import DeviceKey, EdgeDevice
    from cameras.services import device_key_issue, device_key_revoke

    devices = EdgeDevice.objects.filter(name__in=DEMO_DEVICES, is_active=True).order_by("name")
    earlier = DeviceKey.objects.filter(
        device__in=devices, name=DEMO_KEY_NAME, revoked_at__isnull=True
    )
    for record in earlier:
        device_key_revoke(key=record)
    issued = []
    for device in devices:
        key = device_key_issue(device=device, name=DEMO_KEY_NAME)
        issued.append((device.name, key.key, key.record))
    return issued


def demo_keys_revoke(*, records: list) -> None:
    from cameras.services import device_key_revoke

    for record in records:
        device_key_revoke(key=record)


class ServerRefused(Exception):
    """Any answer but the expected one: wait as long as the server asks (Retry-After) or
    back off, and try again; a server error must not end the demo."""

    def __init__(self, status: int, retry_after: float | None = None, detail: str = ""):
        super().__init__(status, detail)
        self.status, self.retry_after, self.detail = status, retry_after, detail


class KeyRefused(Exception):
    """401/403: the key was revoked (or the device disabled); posting has no point."""


@dataclass
class DemoDevice:
    """One demo edge box: its key, its last configuration and where it is in its round."""

    name: str
    key: str
    cameras: list[dict] = field(default_factory=list)
    etag: str = ""
    config_at: float = float("-inf")
    posted: int = 0

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Token {self.key}"}


class DemoPoster:
    """Takes the devices in turns: pull the configuration when due, post one read."""

    def __init__(self, *, url: str, keys: dict[str, str], interval: float, seed: int):
        self.url = url.rstrip("/")
        self.devices = [DemoDevice(name=name, key=key) for name, key in sorted(keys.items())]
        self.interval = interval
        self.rng = random.Random(seed)
        self.fleet = [vehicle_pick(self.rng, foreign_share=0.08) for _ in range(40)]
        self.http = requests.Session()

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set or the server refuses the key; never stops on an answer."""
        failures = 0
        warned = False
        turn = 0
        while not stop.is_set():
            device = self.devices[turn % len(self.devices)]
            try:
                self.step(device)
                if warned:
                    logger.warning("Demo devices: the server answers again.")
                failures, warned = 0, False
                turn += 1
                wait = self.interval / len(self.devices)
            except KeyRefused as refused:
                logger.warning("Demo devices: %s; stopped posting.", refused)
                return
            except ServerRefused as answer:
                failures += 1
                wait = answer.retry_after or min(BACKOFF_MAX, 2**failures)
                if answer.status not in (429, 503) and not warned:  # one line per outage
                    logger.warning(
                        "Demo device %s: the server answered %s%s; retrying.",
                        device.name,
                        answer.status,
                        f" ({answer.detail})" if answer.detail else "",
                    )
                    warned = True
            except requests.RequestException as error:
                failures += 1
                wait = min(BACKOFF_MAX, 0.5 * 2**failures)
                # Silent while a server starts (about 15 s of retries), then one line.
                if failures == UNREACHABLE_WARN_AFTER:
                    logger.warning("Demo devices: %s unreachable (%s); retrying.", self.url, error)
                    warned = True
            stop.wait(wait * (0.8 + 0.4 * self.rng.random()) if failures else wait)

    def step(self, device: DemoDevice) -> None:
        if time.monotonic() - device.config_at >= CONFIG_INTERVAL or not device.cameras:
            self.config_pull(device)
        if device.cameras:
            self.read_post(device)

    def config_pull(self, device: DemoDevice) -> None:
        """GET /api/devices/me/config/ with the last ETag, as an edge agent polls."""
        headers = dict(device.headers)
        if device.etag:
            headers["If-None-Match"] = device.etag
        response = self.http.get(f"{self.url}/api/devices/me/config/", headers=headers, timeout=10)
        self._check(response, expected=(200, 304))
        if response.status_code == 200:
            device.cameras = self._active_cameras(response)
            device.etag = response.headers.get("ETag", "")
        device.config_at = time.monotonic()

    @staticmethod
    def _active_cameras(response: requests.Response) -> list[dict]:
        try:
            cameras = response.json()["cameras"]
            return [
                c
                for c in cameras
                if isinstance(c["slug"], str) and c.get("status", "active") == "active"
            ]
        except (ValueError, KeyError, TypeError):
            raise ServerRefused(200, detail="malformed configuration") from None

    def read_post(self, device: DemoDevice) -> None:
        """POST /api/events/ingest/: JSON, or multipart with a crop and frame now and then."""
        camera = device.cameras[device.posted % len(device.cameras)]
        plate, country, kind, make, model, color = (
            self.rng.choice(self.fleet)
            if self.rng.random() < 0.6
            else vehicle_pick(self.rng, foreign_share=0.15)
        )
        zones = camera.get("zones") or []
        read = {
            "camera": camera["slug"],
            "plate": plate,
            "captured_at": datetime.now(UTC).isoformat(),
            "event_id": f"demo-live-{uuid.uuid4().hex}",
            "confidence": round(self.rng.uniform(0.82, 0.99), 3),
            "country": country,
            "vehicle_type": kind,
            "vehicle_color": color,
            "vehicle_make": make,
            "vehicle_model": model,
        }
        if zones:
            read["zone"] = self.rng.choice(zones)["name"]
        url = f"{self.url}/api/events/ingest/"
        if device.posted % IMAGE_EVERY == 0:
            seed = self.rng.randrange(1 << 30)
            frame = scene_frame_jpeg(
                plate, country=country, vehicle_type=kind, color=color, seed=seed
            )
            files = {
                "plate_image": ("plate.jpg", plate_crop_jpeg(plate, country=country), "image/jpeg"),
                "frame_image": ("frame.jpg", frame, "image/jpeg"),
            }
            body = {"event": json.dumps(read)}
            response = self.http.post(
                url, data=body, files=files, headers=device.headers, timeout=10
            )
        else:
            response = self.http.post(url, json=read, headers=device.headers, timeout=10)
        self._check(response, expected=range(200, 300))
        device.posted += 1

    @staticmethod
    def _check(response: requests.Response, *, expected) -> None:
        status = response.status_code
        if status in expected:
            return
        if status in (401, 403):
            raise KeyRefused(f"the server refused the key ({status})")
        retry_after = ascii_integer(response.headers.get("Retry-After", ""))
        raise ServerRefused(
            status,
            float(retry_after) if retry_after is not None else None,
            "" if status in (429, 503) else response.text[:300],
        )


def demo_post_forever(
    *, url: str, keys: dict[str, str], interval: float = POST_INTERVAL, seed: int = 2026, stop=None
) -> None:
    """Post as the demo devices until `stop` is set (or Ctrl-C / SIGTERM in the caller)."""
    DemoPoster(url=url, keys=keys, interval=interval, seed=seed).run(stop or threading.Event())


def main() -> None:
    """The child process of `serve --live`: keys on stdin (never in argv, which `ps` shows);
    SIGTERM and SIGINT stop it between two requests."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    url = sys.argv[1]
    keys = json.loads(sys.stdin.readline())
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    threading.Thread(target=_stop_when_orphaned, args=(stop,), daemon=True).start()
    demo_post_forever(url=url, keys=keys, stop=stop)


def _stop_when_orphaned(stop: threading.Event) -> None:
    """If `serve` is killed outright (no chance to stop its children), stop posting."""
    parent = os.getppid()
    while not stop.wait(1.0):
        if os.getppid() != parent:
            stop.set()


if __name__ == "__main__":
    main()
