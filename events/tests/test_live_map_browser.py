"""The live map in headless Chromium against daphne: a read posted by a device appears and its
camera flashes within 2 s; reads stored while the server was down appear after it returns.

Run with `pytest -m browser` (a separate invocation; see setup.cfg).
"""

import json
import time
from datetime import UTC, datetime

import pytest
import requests

from .browser import OUTPUT, ServerStack, launch_chromium, sign_in
from .images import image_bytes

pytestmark = pytest.mark.browser

SEED = """
import json
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from cameras.models import Camera, Zone
from cameras.services import device_create
user = get_user_model().objects.create_user(username="watcher", password="watch-the-gate-42")
user.groups.add(Group.objects.get(name="viewer"))
gate = Camera.objects.create(
    slug="north-gate", name="North gate", latitude=51.5074, longitude=-0.1278
)
# Names are operators' text: shown as text, never run as HTML.
Camera.objects.create(
    slug="yard", name="Yard <img src=/x onerror=window.pwned=1>", latitude=51.5084,
    longitude=-0.1258,
)
ring = [
    [-0.1285, 51.5070], [-0.1270, 51.5070], [-0.1270, 51.5079], [-0.1285, 51.5079],
    [-0.1285, 51.5070],
]
Zone.objects.create(
    camera=gate, name="Entry lane", kind="entry",
    geometry={"type": "Polygon", "coordinates": [ring]},
)
device, issued = device_create(name="gate-box", cameras=[gate])
print(json.dumps({"key": issued.key, "device": device.pk}))
"""

INGEST_WHILE_DOWN = """
import json
from cameras.models import EdgeDevice
from events.reads import ReadIn
from events.services.ingest import plate_events_ingest
device = EdgeDevice.objects.get(pk={device})
results = plate_events_ingest(device=device, reads=[
    ReadIn(
        plate="GAP1AAA", captured_at="{captured}", camera="north-gate", event_id="gap-1",
        confidence=0.8,
    ),
    ReadIn(
        plate="GAP2BBB", captured_at="{captured}", camera="north-gate", event_id="gap-2",
        confidence=0.7,
    ),
])
print(json.dumps([r.status for r in results]))
"""


@pytest.fixture
def stack(tmp_path):
    server = ServerStack(tmp_path)
    server.create()
    yield server
    server.destroy()


def post_read(stack, key: str, plate: str, event_id: str, *, images: bool = False) -> None:
    event = {
        "camera": "north-gate",
        "plate": plate,
        "captured_at": datetime.now(UTC).isoformat(),
        "event_id": event_id,
        "confidence": 0.93,
        "vehicle_type": "car",
        "vehicle_color": "blue",
        "vehicle_make": "Volvo",
    }
    headers = {"Authorization": f"Token {key}"}
    url = f"{stack.url}/api/events/ingest/"
    if images:  # multipart: the event's JSON plus a plate crop and a full frame
        files = {
            "plate_image": ("plate.jpg", image_bytes("JPEG", (120, 30)), "image/jpeg"),
            "frame_image": ("frame.jpg", image_bytes("JPEG", (640, 360)), "image/jpeg"),
        }
        data = {"event": json.dumps(event)}
        response = requests.post(url, data=data, files=files, headers=headers, timeout=10)
    else:
        response = requests.post(url, json=event, headers=headers, timeout=10)
    assert response.status_code == 201, response.text


def test_live_reads_arrive_flash_their_camera_and_survive_a_server_restart(stack):
    from playwright.sync_api import expect, sync_playwright

    seeded = stack.django(SEED)
    stack.start()
    OUTPUT.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        outside = []
        page.on(
            "request",
            lambda request: (
                None
                if request.url.startswith(("data:", stack.url))
                else outside.append(request.url)
            ),
        )
        # Signing in at /login/ itself (no ?next=) lands on the map, not a missing profile page.
        sign_in(page, stack.url, "watcher", "watch-the-gate-42", next_path=None)
        page.wait_for_url(f"{stack.url}/")
        connection = page.locator("#connection")
        expect(connection).to_have_attribute("data-state", "live", timeout=10_000)
        expect(page.locator("path.camera-marker")).to_have_count(2)
        expect(page.locator("path.zone")).to_have_count(1)
        gate_marker = page.locator("path.camera-marker[data-camera]").first
        page.locator("path.camera-marker").nth(1).hover()
        expect(page.locator(".leaflet-tooltip")).to_contain_text("Yard <img")
        assert page.evaluate("window.pwned") is None
        page.mouse.move(5, 400)  # tooltip away before the screenshot

        # A device posts a read: it is listed and its camera flashes within 2 s.
        started = time.monotonic()
        post_read(stack, seeded["key"], "LIVE123", "live-1", images=True)
        expect(page.locator('.read[data-plate="LIVE123"]')).to_have_count(1, timeout=2_000)
        page.wait_for_function(
            "document.querySelector('path.camera-marker[data-flashed-at]') !== null",
            timeout=2_000,
        )
        assert time.monotonic() - started < 2.0
        thumbnail = page.locator('.read[data-plate="LIVE123"] img')
        page.wait_for_function(
            "img => img.complete && img.naturalWidth === 120", arg=thumbnail.element_handle()
        )
        expect(gate_marker).to_have_attribute("data-status", "online")
        page.screenshot(path=str(OUTPUT / "live_map.png"))

        # The server goes away; reads stored meanwhile appear once it is back, without gaps.
        stack.stop()
        expect(connection).not_to_have_attribute("data-state", "live", timeout=10_000)
        captured = datetime.now(UTC).isoformat()
        statuses = stack.django(
            INGEST_WHILE_DOWN.format(device=seeded["device"], captured=captured)
        )
        assert statuses == ["created", "created"]
        stack.start()
        expect(connection).to_have_attribute("data-state", "live", timeout=40_000)
        expect(page.locator('.read[data-plate="GAP1AAA"]')).to_have_count(1, timeout=5_000)
        expect(page.locator('.read[data-plate="GAP2BBB"]')).to_have_count(1)
        post_read(stack, seeded["key"], "AFTER99", "live-2")
        expect(page.locator('.read[data-plate="AFTER99"]')).to_have_count(1, timeout=2_000)
        plates = page.locator(".read").evaluate_all("rows => rows.map(r => r.dataset.plate)")
        assert sorted(plates) == ["AFTER99", "GAP1AAA", "GAP2BBB", "LIVE123"]

        # Filter by plate text, then open a read's detail.
        page.fill("#filter-plate", "gap1")
        expect(page.locator(".read:not([hidden])")).to_have_count(1)
        page.fill("#filter-plate", "")
        # By camera: the yard has no reads; back to all cameras, all four return.
        page.select_option("#filter-camera", label="Yard <img src=/x onerror=window.pwned=1>")
        expect(page.locator(".read")).to_have_count(0)
        expect(page.locator("#reads-empty")).to_be_visible()
        page.select_option("#filter-camera", "")
        expect(page.locator(".read")).to_have_count(4)
        page.locator('.read[data-plate="LIVE123"]').click()
        detail = page.locator("#read-detail")
        expect(detail).to_be_visible()
        expect(detail).to_contain_text("LIVE123")
        expect(detail).to_contain_text("blue Volvo")
        full = detail.locator("img.frame-image-url")
        page.wait_for_function(
            "img => img.complete && img.naturalWidth === 640", arg=full.element_handle()
        )
        page.keyboard.press("Escape")

        # Phone width: the map and the list are both on screen, nothing wider than it.
        page.set_viewport_size({"width": 390, "height": 844})
        for selector in ("#map", ".reads"):
            box = page.locator(selector).bounding_box()
            assert box["width"] > 300 and box["x"] >= 0 and box["x"] + box["width"] <= 391
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(OUTPUT / "live_map_phone.png"))
        browser.close()
    assert outside == [], f"the live map fetched from outside: {outside}"
