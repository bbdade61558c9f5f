"""The search page in headless Chromium against daphne: a read of 1XBX88 is found by typing
IXBX88 (the OCR-tolerant search), its detail shows both images, Export CSV downloads it, and
the back button returns to the search before.

Run with `pytest -m browser` (a separate invocation; see setup.cfg). Its screenshots go to
tmp_path: the documentation's picture of the page is made by `manage.py screenshots`.
"""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
import requests

from .browser import ServerStack, launch_chromium, sign_in
from .images import image_bytes

pytestmark = pytest.mark.browser

SEED = """
import json
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from cameras.models import Camera
from cameras.services import device_create
user = get_user_model().objects.create_user(username="searcher", password="find-the-car-42")
user.groups.add(Group.objects.get(name="viewer"))
gate = Camera.objects.create(slug="damrak", name="Damrak", latitude=52.376, longitude=4.897)
device, issued = device_create(name="damrak-box", cameras=[gate])
print(json.dumps({"key": issued.key}))
"""


@pytest.fixture
def stack(tmp_path):
    server = ServerStack(tmp_path)
    server.create()
    yield server
    server.destroy()


def post_read(stack, key: str, plate: str, *, minutes_ago: int, images: bool) -> None:
    event = {
        "camera": "damrak",
        "plate": plate,
        "captured_at": (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(),
        "event_id": f"search-{plate}",
        "confidence": 0.91,
        "vehicle_type": "car",
        "vehicle_color": "blue",
        "vehicle_make": "Volvo",
        "vehicle_model": "V70",
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


def test_search_finds_a_misread_plate_shows_its_images_and_exports_csv(stack, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    seeded = stack.django(SEED)
    stack.env["CSV_EXPORT_MAX_ROWS"] = "2"  # the three reads are too many, one is not
    stack.start()
    post_read(stack, seeded["key"], "1XBX88", minutes_ago=5, images=True)
    post_read(stack, seeded["key"], "ZZ99ZZZ", minutes_ago=3, images=False)
    post_read(stack, seeded["key"], "KL45MNP", minutes_ago=1, images=False)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = browser.new_context(
            viewport={"width": 1280, "height": 800}, accept_downloads=True
        )
        page = context.new_page()
        outside = []
        page.on(
            "request",
            lambda request: (
                None
                if request.url.startswith(("data:", stack.url))
                else outside.append(request.url)
            ),
        )
        sign_in(page, stack.url, "searcher", "find-the-car-42", next_path="/search/")
        page.wait_for_url(f"{stack.url}/search/")
        results = page.locator("#results tbody tr")
        expect(results).to_have_count(3)  # no query: the newest reads

        # A misread plate: I for 1. The OCR-tolerant search finds the stored read.
        page.fill("#filter-q", "IXBX88")
        page.press("#filter-q", "Enter")
        page.wait_for_url("**/search/?q=IXBX88")
        expect(results).to_have_count(1)
        expect(page.locator('#results tr[data-plate="1XBX88"]')).to_have_count(1)
        thumbnail = page.locator('#results tr[data-plate="1XBX88"] img.thumb')
        page.wait_for_function(
            "img => img.complete && img.naturalWidth === 120", arg=thumbnail.element_handle()
        )
        page.screenshot(path=str(tmp_path / "search.png"))

        # The detail: both images and the vehicle.
        page.locator('#results tr[data-plate="1XBX88"]').click()
        detail = page.locator("#event-detail")
        expect(detail).to_be_visible()
        expect(detail).to_contain_text("1XBX88")
        for selector, width in (("img.plate-image-url", 120), ("img.frame-image-url", 640)):
            page.wait_for_function(
                f"img => img.complete && img.naturalWidth === {width}",
                arg=detail.locator(selector).element_handle(),
            )
        for text in ("Volvo", "V70", "blue", "car", "Damrak"):
            expect(detail).to_contain_text(text)
        page.screenshot(path=str(tmp_path / "search-detail.png"))
        page.keyboard.press("Escape")
        expect(detail).to_be_hidden()

        # Export CSV: the same query as a download.
        with page.expect_download() as started:
            page.click("#export")
        download = started.value
        assert download.suggested_filename.endswith(".csv")
        rows = list(csv.DictReader(io.StringIO(open(download.path()).read())))
        assert [row["plate"] for row in rows] == ["1XBX88"]
        assert rows[0]["plate_image_url"].endswith("/images/plate/")

        # The state is the URL: back returns to all reads, forward to the search.
        page.go_back()
        expect(results).to_have_count(3)
        expect(page.locator("#filter-q")).to_have_value("")
        # Exporting more than an export holds is refused on the page, which stays.
        page.click("#export")
        expect(page.locator("#status")).to_contain_text("at most 2")
        assert page.url.startswith(f"{stack.url}/search/")
        expect(results).to_have_count(3)
        page.go_forward()
        expect(results).to_have_count(1)
        expect(page.locator("#filter-q")).to_have_value("IXBX88")

        # A filter from the form: another camera-less query through the URL, shareable.
        page.goto(f"{stack.url}/search/?camera=damrak&ordering=captured_at")
        expect(results).to_have_count(3)
        expect(page.locator("#filter-camera")).to_have_value("damrak")
        plates = results.evaluate_all("rows => rows.map(r => r.dataset.plate)")
        assert plates == ["1XBX88", "ZZ99ZZZ", "KL45MNP"]  # oldest first

        # Pages: the API's cursors as Next and Previous links of this page.
        page.goto(f"{stack.url}/search/?page_size=2")
        expect(results).to_have_count(2)
        expect(page.locator("#previous")).to_be_hidden()
        page.click("#next")
        expect(results).to_have_count(1)
        assert "cursor=" in page.url
        expect(page.locator('#results tr[data-plate="1XBX88"]')).to_have_count(1)  # the oldest
        page.click("#previous")
        expect(results).to_have_count(2)
        expect(page.locator('#results tr[data-plate="KL45MNP"]')).to_have_count(1)

        # A filter from the form's Filters: nothing matches, and the page says so.
        page.click("#more-filters summary")
        page.select_option("#filter-vehicle_type", "truck")
        page.press("#filter-q", "Enter")
        page.wait_for_url("**vehicle_type=truck**")
        expect(results).to_have_count(0)
        expect(page.locator("#results-empty")).to_be_visible()

        # Dark mode follows the system, through the shared colours.
        page.emulate_media(color_scheme="dark")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(21, 25, 30)", background
        context.close()
        browser.close()
    assert outside == [], f"the search page fetched from outside: {outside}"
