"""Hits on the live map in headless Chromium against daphne: a listed plate posted by a
device through the ingest API shows a banner in its list's colour and joins "Open hits"
with the list's name; the sound's mute survives a reload.

Run with `pytest -m browser` (a separate invocation; see setup.cfg).
"""

from datetime import UTC, datetime

import pytest
import requests

from events.tests.browser import OUTPUT, ServerStack, launch_chromium, sign_in

pytestmark = pytest.mark.browser

SEED = """
import json
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from cameras.models import Camera
from cameras.services import device_create
from watchlists.models import Watchlist, WatchlistEntry
from watchlists.services.entries import entry_save
user = get_user_model().objects.create_user(username="watcher", password="watch-the-gate-42")
user.groups.add(Group.objects.get(name="viewer"))
gate = Camera.objects.create(
    slug="north-gate", name="North gate", latitude=51.5074, longitude=-0.1278
)
stolen = Watchlist.objects.create(name="Stolen <b>cars</b>", colour="#1565c0", priority=10)
for plate in ("HIT123", "HIT456"):
    entry_save(entry=WatchlistEntry(
        watchlist=stolen, plate=plate, plate_raw=plate, category="stolen_vehicle",
        description="Blue Golf <img src=/x onerror=window.pwned=1>", make="VW",
    ))
device, issued = device_create(name="gate-box", cameras=[gate])
print(json.dumps({"key": issued.key}))
"""


@pytest.fixture
def stack(tmp_path):
    server = ServerStack(tmp_path)
    server.create()
    yield server
    server.destroy()


def post_read(stack, key: str, plate: str) -> None:
    event = {
        "camera": "north-gate",
        "plate": plate,
        "captured_at": datetime.now(UTC).isoformat(),
        "event_id": f"read-{plate}",
        "confidence": 0.9,
    }
    response = requests.post(
        f"{stack.url}/api/events/ingest/",
        json=event,
        headers={"Authorization": f"Token {key}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text


def test_a_listed_plate_posted_by_a_device_shows_a_hit_on_the_live_map(stack):
    from playwright.sync_api import expect, sync_playwright

    seeded = stack.django(SEED)
    stack.start()
    OUTPUT.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        sign_in(page, stack.url, "watcher", "watch-the-gate-42")
        page.wait_for_url(f"{stack.url}/")
        expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=10_000)
        panel = page.locator("#hits-panel")
        expect(panel).to_be_visible()
        expect(page.locator("#hits-empty")).to_be_visible()
        sound = page.locator("#hit-sound")
        expect(sound).to_have_attribute("aria-pressed", "false")

        # An unlisted plate is a read, not a hit; a listed one is both.
        post_read(stack, seeded["key"], "FREE999")
        expect(page.locator('.read[data-plate="FREE999"]')).to_have_count(1, timeout=2_000)
        post_read(stack, seeded["key"], "HIT123")
        toast = page.locator(".hit-toast")
        expect(toast).to_have_count(1, timeout=2_000)
        expect(toast).to_contain_text("Stolen <b>cars</b>")
        expect(toast).to_contain_text("HIT123")
        expect(toast).to_contain_text("Blue Golf <img")
        expect(toast).to_have_css("background-color", "rgb(21, 101, 192)")
        row = page.locator("#hits .hit")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("Stolen <b>cars</b>")
        expect(row).to_contain_text("North gate")
        hit_id = row.get_attribute("data-id")
        assert row.locator("a").get_attribute("href") == f"/hits/?id={hit_id}"
        expect(page.locator("#hits-count")).to_have_text("1")
        assert page.evaluate("window.liveHits.beeps") == 1
        assert page.evaluate("window.pwned") is None
        page.mouse.move(5, 400)
        page.screenshot(path=str(OUTPUT / "live_map_hit.png"), animations="disabled")
        page.emulate_media(color_scheme="dark")
        page.screenshot(path=str(OUTPUT / "live_map_hit_dark.png"), animations="disabled")
        page.emulate_media(color_scheme="light")

        # Muted, and still muted after a reload: the next hit is shown without a sound; the
        # open hit is loaded again from the API.
        sound.click()
        expect(sound).to_have_attribute("aria-pressed", "true")
        expect(sound).to_have_text("Muted")
        page.reload()
        expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=10_000)
        expect(page.locator("#hit-sound")).to_have_attribute("aria-pressed", "true")
        expect(page.locator("#hits .hit")).to_have_count(1, timeout=5_000)
        post_read(stack, seeded["key"], "HIT456")
        expect(page.locator("#hits .hit")).to_have_count(2, timeout=2_000)
        expect(page.locator("#hits .hit").first).to_contain_text("HIT456")
        expect(page.locator(".hit-toast")).to_have_count(1)
        assert page.evaluate("window.liveHits.beeps") == 0
        browser.close()
