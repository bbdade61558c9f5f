"""The live map's Plate box and background in headless Chromium against daphne: the box finds
an old read of 1XBX88 from IXBX88 across the whole database (not only the reads on screen);
a tile server that cannot be reached gives one labelled notice and a plain background, and
no more tile requests; dark mode reaches Leaflet's controls.

Run with `pytest -m browser`.
"""

import pytest

from .browser import OUTPUT, ServerStack, launch_chromium, sign_in
from .test_live_map_browser import post_read

pytestmark = pytest.mark.browser

UNREACHABLE_TILES = "http://127.0.0.1:9/{z}/{x}/{y}.png"  # the discard port: refused

SEED = """
import json
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from cameras.models import Camera
from cameras.services import device_create
from events.reads import ReadIn
from events.services.ingest import plate_events_ingest
user = get_user_model().objects.create_user(username="watcher", password="watch-the-gate-42")
user.groups.add(Group.objects.get(name="viewer"))
gate = Camera.objects.create(
    slug="north-gate", name="North gate", latitude=51.5074, longitude=-0.1278
)
device, issued = device_create(name="gate-box", cameras=[gate])
now = timezone.now()
old = [
    ReadIn(plate="1XBX88", captured_at=(now - timedelta(days=2, minutes=n)).isoformat(),
           camera="north-gate", event_id=f"old-{n}")
    for n in range(2)
]
# Newer traffic than the list holds (it shows 50): the old reads are not on screen.
newer = [
    ReadIn(plate=f"KT{n:03d}PV", captured_at=(now - timedelta(minutes=n)).isoformat(),
           camera="north-gate", event_id=f"new-{n}")
    for n in range(80)
]
results = plate_events_ingest(device=device, reads=old + newer)
assert all(r.status == "created" for r in results), results
print(json.dumps({"key": issued.key}))
"""


@pytest.fixture
def stack(tmp_path):
    server = ServerStack(tmp_path)
    server.env["MAP_TILE_URL"] = UNREACHABLE_TILES
    server.create()
    yield server
    server.destroy()


def test_plate_box_searches_everything_and_offline_tiles_give_one_notice(stack):
    from playwright.sync_api import expect, sync_playwright

    seeded = stack.django(SEED)
    stack.start()
    OUTPUT.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 800}, color_scheme="dark")
        tile_requests = []
        page.on(
            "request",
            lambda request: (
                tile_requests.append(request.url)
                if request.url.startswith("http://127.0.0.1:9/")
                else None
            ),
        )
        sign_in(page, stack.url, "watcher", "watch-the-gate-42")
        page.wait_for_url(f"{stack.url}/")
        expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=10_000)

        # The tiles fail: one labelled notice, a plain background, and no further requests.
        expect(page.locator("#map")).to_have_attribute("data-tiles", "plain", timeout=10_000)
        expect(page.locator(".tiles-notice")).to_have_count(1)
        expect(page.locator(".tiles-notice")).to_have_text(
            "Map tiles unavailable: offline or blocked"
        )
        expect(page.locator(".plain-tiles canvas").first).to_be_visible()
        requested = len(tile_requests)
        assert requested >= 4
        page.locator(".leaflet-control-zoom-in").click()
        page.locator(".leaflet-control-zoom-out").click()
        page.mouse.move(400, 400)
        page.mouse.down()
        page.mouse.move(200, 300, steps=5)
        page.mouse.up()
        page.wait_for_timeout(1000)
        assert len(tile_requests) == requested, "tiles still requested after the switch"
        expect(page.locator(".tiles-notice")).to_have_count(1)

        # Dark mode reaches Leaflet's controls and the legend (not white boxes on a dark page).
        dark = "rgb(21, 25, 30)"  # --bg of operators.css in dark mode
        zoom_background = page.locator(".leaflet-control-zoom-in").evaluate(
            "a => getComputedStyle(a).backgroundColor"
        )
        legend_background = page.locator(".legend").evaluate(
            "box => getComputedStyle(box).backgroundColor"
        )
        assert zoom_background == dark and legend_background == dark

        # The list shows the latest 50; the old reads of 1XBX88 are not among them.
        expect(page.locator(".read")).to_have_count(50)
        expect(page.locator('.read[data-plate="1XBX88"]')).to_have_count(0)
        # Searched as the camera might misread it: the whole database answers.
        page.fill("#filter-plate", "IXBX88")
        expect(page.locator('.read[data-plate="1XBX88"]')).to_have_count(2, timeout=5_000)
        expect(page.locator(".read")).to_have_count(2)
        # During the search, a new matching read joins the list; another plate does not.
        post_read(stack, seeded["key"], "1XBX88", "live-match")
        post_read(stack, seeded["key"], "KT999PV", "live-other")
        expect(page.locator('.read[data-plate="1XBX88"]')).to_have_count(3, timeout=3_000)
        page.wait_for_timeout(500)
        expect(page.locator('.read[data-plate="KT999PV"]')).to_have_count(0)
        # Typed so far: a plate prefix finds it too; nothing matching says so.
        page.fill("#filter-plate", "1XB")
        expect(page.locator(".read")).to_have_count(3, timeout=5_000)
        page.fill("#filter-plate", "QQQQQQ")
        expect(page.locator(".read")).to_have_count(0, timeout=5_000)
        expect(page.locator("#reads-empty")).to_have_text("No reads match this plate.")
        # Cleared: the latest reads again, the live one among them.
        page.fill("#filter-plate", "")
        expect(page.locator('.read[data-plate="KT999PV"]')).to_have_count(1, timeout=5_000)
        expect(page.locator(".read")).to_have_count(50)
        page.screenshot(path=str(OUTPUT / "live_map_dark_offline.png"))
        browser.close()
