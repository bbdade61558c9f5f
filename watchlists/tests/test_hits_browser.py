"""The hits page in headless Chromium against daphne: an operator sees a read's hit in the
open queue with why it matched, rejects it with a reason and a note, and it leaves the open
filter; a second operator, whose page still offered it, is told who acknowledged it first;
a viewer sees the hit without controls.

Run with `pytest -m browser`. Its screenshots go to tmp_path: the documentation's picture of
the page is made by `manage.py screenshots`.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests

from events.tests.browser import ServerStack, launch_chromium, sign_in
from events.tests.images import image_bytes

pytestmark = pytest.mark.browser

SEED = """
import json
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from cameras.models import Camera
from cameras.services import device_create
from watchlists.models import RejectReason, Watchlist
from watchlists.tests.factories import entry_add
User = get_user_model()
for name, role in (("ann", "operator"), ("bob", "operator"), ("vic", "viewer")):
    user = User.objects.create_user(username=name, password="hits-queue-42")
    user.groups.add(Group.objects.get(name=role))
gate = Camera.objects.create(slug="damrak", name="Damrak", latitude=52.376, longitude=4.897)
device, issued = device_create(name="damrak-box", cameras=[gate])
stolen = Watchlist.objects.create(name="Stolen <b>cars</b>", colour="#1f8f3a")
entry_add(stolen, "8XBX88", category="stolen_vehicle", description="Blue Volvo <i>V70</i>",
          reference="CASE-17")
RejectReason.objects.create(code="misread", label="Misread")
RejectReason.objects.create(code="retired", label="Retired reason", active=False)
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
        "camera": "damrak",
        "plate": plate,
        "captured_at": (datetime.now(UTC) - timedelta(minutes=2)).isoformat(),
        "event_id": f"hits-{plate}",
        "confidence": 0.91,
    }
    files = {"plate_image": ("plate.jpg", image_bytes("JPEG", (120, 30)), "image/jpeg")}
    response = requests.post(
        f"{stack.url}/api/events/ingest/",
        data={"event": json.dumps(event)},
        files=files,
        headers={"Authorization": f"Token {key}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text


def open_hits(browser, stack, username: str):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    sign_in(page, stack.url, username, "hits-queue-42", next_path="/hits/")
    page.wait_for_url(f"{stack.url}/hits/")
    return context, page


def test_an_operator_rejects_a_hit_and_a_second_one_is_told_who_was_first(stack, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    seeded = stack.django(SEED)
    stack.start()
    post_read(stack, seeded["key"], "BXBX88")  # 8 read as B: an OCR-tolerant match
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        ann_context, ann = open_hits(browser, stack, "ann")
        outside = []
        ann.on(
            "request",
            lambda request: (
                None
                if request.url.startswith(("data:", stack.url))
                else outside.append(request.url)
            ),
        )
        hits = ann.locator("#hits > li")
        expect(hits).to_have_count(1)
        hit = hits.first
        # Why it matched, with the operators' text shown as text, never as markup.
        expect(hit.locator(".list-chip")).to_have_text("Stolen <b>cars</b>")
        expect(hit).to_contain_text("8XBX88")
        expect(hit).to_contain_text("BXBX88")
        expect(hit).to_contain_text("8 → B")
        expect(hit).to_contain_text("Blue Volvo <i>V70</i>")
        expect(hit).to_contain_text("CASE-17")
        expect(hit).to_contain_text("Damrak")
        expect(hit.locator(".state")).to_have_text("Open")
        ann.wait_for_function(
            "img => img.complete && img.naturalWidth === 120",
            arg=hit.locator("img.thumb").element_handle(),
        )
        assert ann.locator("#filter-status").input_value() == "open"

        # Bob opens the same queue before Ann acknowledges.
        bob_context, bob = open_hits(browser, stack, "bob")
        expect(bob.locator("#hits > li")).to_have_count(1)

        # Ann rejects it: a reason (the active ones only) and a note.
        ann.screenshot(path=str(tmp_path / "hits.png"))
        expect(hit.locator("select[name=reason]")).to_be_hidden()  # only a rejection has one
        hit.get_by_label("Rejected").check()
        reasons = hit.locator("select[name=reason] option").all_text_contents()
        assert reasons == ["Choose a reason…", "Misread"]
        hit.locator("select[name=reason]").select_option("misread")
        hit.locator("textarea[name=note]").fill("The car is a green <Fiat>")
        hit.locator("textarea[name=note]").press("Tab")
        ann.keyboard.press("Enter")  # the Acknowledge button has the focus
        expect(ann.locator("#status")).to_contain_text("Rejected")
        expect(hits).to_have_count(0)  # out of the open filter
        expect(ann.locator("#hits-empty")).to_be_visible()

        # Every status: there it is, rejected by Ann with her reason and note.
        ann.select_option("#filter-status", "any")
        ann.click("#filters button[type=submit]")
        ann.wait_for_url("**/hits/?status=any")
        expect(hits).to_have_count(1)
        expect(hits.first.locator(".state")).to_have_text("Rejected")
        expect(hits.first).to_contain_text("by ann")
        expect(hits.first).to_contain_text("Misread")
        expect(hits.first).to_contain_text("The car is a green <Fiat>")
        expect(hits.first.locator("form.ack")).to_have_count(0)

        # Bob's page still offers it: his acknowledgement is refused, naming Ann.
        bob_hit = bob.locator("#hits > li").first
        bob_hit.get_by_label("Accepted").check()
        bob_hit.locator("button[type=submit]").click()
        refreshed = bob.locator("#hits > li").first
        expect(refreshed.locator(".notice")).to_have_text(
            "This hit was already acknowledged by ann."
        )
        expect(refreshed.locator(".state")).to_have_text("Rejected")
        expect(refreshed.locator("form.ack")).to_have_count(0)
        bob.screenshot(path=str(tmp_path / "hits-conflict.png"))

        # One hit by its link (the live map links there), back to the queue.
        hit_id = ann.locator("#hits > li").first.get_attribute("data-id")
        ann.goto(f"{stack.url}/hits/?id={hit_id}")
        expect(hits).to_have_count(1)
        expect(ann.locator("#filters")).to_be_hidden()
        ann.click("#back-to-queue")
        expect(ann.locator("#hits-empty")).to_be_visible()  # the open queue: empty now

        # Dark mode follows the system, through the shared colours.
        ann.emulate_media(color_scheme="dark")
        background = ann.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(21, 25, 30)", background
        ann_context.close()
        bob_context.close()

        # A viewer sees the hit and no acknowledgement controls.
        vic_context, vic = open_hits(browser, stack, "vic")
        vic.goto(f"{stack.url}/hits/?status=any")
        expect(vic.locator("#hits > li")).to_have_count(1)
        expect(vic.locator("form.ack")).to_have_count(0)
        vic_context.close()
        browser.close()
    assert outside == [], f"the hits page fetched from outside: {outside}"
