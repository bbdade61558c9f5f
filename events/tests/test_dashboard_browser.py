"""The dashboard in headless Chromium against daphne, on the demo data: the stacked chart is
drawn (one series per busy camera, every hour of the window), the top plates and the cameras
with their state are listed, nothing is fetched from outside, and dark mode draws the chart
in the dark scheme's colours.

Run with `pytest -m browser`. Its screenshots go to tmp_path: the documentation's pictures are
made on purpose by `manage.py screenshots` (docs/development.md), not by every test run.
"""

import pytest

from .browser import ServerStack, launch_chromium, sign_in

pytestmark = pytest.mark.browser

SEED = """
import json
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from datetime import timedelta
from django.utils import timezone
from cameras.models import Camera
user = get_user_model().objects.create_user(username="watcher", password="watch-the-gate-42")
user.groups.add(Group.objects.get(name="viewer"))
# One camera just heard from (a heartbeat): online; the demo's others last a day ago: offline
# (the demo dates each camera's last news at its latest demo read, which may be recent).
online = Camera.objects.order_by("slug").first()
Camera.objects.filter(pk=online.pk).update(last_seen_at=timezone.now())
Camera.objects.exclude(pk=online.pk).update(last_seen_at=timezone.now() - timedelta(days=1))
print(json.dumps({"online": online.slug, "cameras": Camera.objects.count()}))
"""

CHART_DRAWN = """() => {
  const canvas = document.getElementById("reads-chart");
  const chart = window.Chart && Chart.getChart(canvas);
  if (!chart || !chart.data.datasets.length) return false;
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) return true;
  return false;
}"""


@pytest.fixture
def stack(tmp_path):
    server = ServerStack(tmp_path)
    server.create()
    yield server
    server.destroy()


def test_the_dashboard_draws_the_demo_in_light_and_dark(stack, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    stack.manage("demo_data", "--events", "1500", "--days", "2", "--seed", "7")
    seeded = stack.django(SEED)
    stack.start()
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        for scheme in ("light", "dark"):
            context = browser.new_context(
                viewport={"width": 1280, "height": 900}, color_scheme=scheme
            )
            page = context.new_page()
            outside = []
            page.on("request", lambda request, seen=outside: seen.append(request.url))
            sign_in(page, stack.url, "watcher", "watch-the-gate-42", next_path="/dashboard/")
            page.wait_for_url(f"{stack.url}/dashboard/")
            expect(page.locator('.topbar .pages a[aria-current="page"]')).to_have_text("Dashboard")
            page.wait_for_function(CHART_DRAWN, timeout=10_000)
            chart = page.evaluate(
                """() => {
                  const chart = Chart.getChart(document.getElementById("reads-chart"));
                  return {
                    labels: chart.data.labels.length,
                    series: chart.data.datasets.map((d) => d.data.length),
                    total: chart.data.datasets.flatMap((d) => d.data).reduce((a, b) => a + b, 0),
                    stacked: chart.options.scales.y.stacked,
                    legend: chart.options.plugins.legend.labels.color,
                  };
                }"""
            )
            body = page.evaluate("window.dashboard.body")
            # Every hour of the last 24 is a bar (24 or 25 with the hour now running), each
            # series as long as the buckets, and together they are the window's reads.
            assert chart["labels"] == len(body["buckets"]) in (24, 25)
            assert set(chart["series"]) == {chart["labels"]} and chart["stacked"]
            assert chart["total"] == body["total"] > 0
            assert (
                int(page.locator("#figure-total").inner_text().replace(",", "")) == (body["total"])
            )
            expect(page.locator("#top-plates tbody tr")).to_have_count(len(body["top_plates"]))
            expect(page.locator("#cameras tbody tr")).to_have_count(seeded["cameras"])
            online = page.locator(f'#cameras tr[data-camera="{seeded["online"]}"] .state')
            expect(online).to_have_attribute("data-state", "online")
            expect(page.locator('#cameras .state[data-state="offline"]')).to_have_count(
                seeded["cameras"] - 1
            )

            # The chart's text colour is the scheme's: light text on the dark background.
            background = page.evaluate("getComputedStyle(document.body).backgroundColor")
            dark = scheme == "dark"
            assert chart["legend"] == ("#e6e9ee" if dark else "#1d1d1f")
            assert background == ("rgb(21, 25, 30)" if dark else "rgb(255, 255, 255)")

            # A window the API refuses names the field.
            page.select_option("#window-preset", "custom")
            page.fill("#window-since", "2026-01-02T00:00")
            page.fill("#window-until", "2026-01-01T00:00")
            page.click("#window button[type=submit]")
            expect(page.locator("#dashboard-error")).to_contain_text("until")
            page.select_option("#window-preset", "7d")
            expect(page.locator("#dashboard-error")).to_be_hidden()
            expect(page.locator("#window-since")).to_be_hidden()
            page.wait_for_function("window.dashboard.body.buckets.length >= 24 * 7")

            outside = [url for url in outside if not url.startswith(("data:", stack.url))]
            assert outside == [], f"the dashboard fetched from outside: {outside}"
            page.select_option("#window-preset", "24h")
            page.wait_for_function("window.dashboard.body.buckets.length <= 25")
            page.wait_for_function(CHART_DRAWN)
            name = "dashboard.png" if scheme == "light" else "dashboard-dark.png"
            page.screenshot(path=str(tmp_path / name))
            context.close()
        browser.close()
