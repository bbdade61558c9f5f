"""The admin's map widgets in headless Chromium against daphne: a zone polygon drawn on the
map is what the API returns after saving; a bad ring typed as text shows the model's error on
the field; a click on the camera map sets latitude and longitude.

Run with `pytest -m browser` (a separate invocation; see setup.cfg).
"""

import json

import pytest

from events.tests.browser import OUTPUT, ServerStack, launch_chromium, sign_in

pytestmark = pytest.mark.browser

SEED = """
import json
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from cameras.models import Camera, Zone
user = get_user_model().objects.create_user(
    username="op", password="edit-the-map-42", is_staff=True
)
user.groups.add(Group.objects.get(name="operator"))
gate = Camera.objects.create(
    slug="north-gate", name="North gate", latitude=51.5074, longitude=-0.1278
)
ring = [
    [-0.1285, 51.5070], [-0.1270, 51.5070], [-0.1270, 51.5079], [-0.1285, 51.5079],
    [-0.1285, 51.5070],
]
Zone.objects.create(
    camera=gate, name="Exit lane", kind="exit", geometry={"type": "Polygon", "coordinates": [ring]}
)
print(json.dumps({"camera": gate.pk}))
"""


@pytest.fixture
def stack(tmp_path):
    server = ServerStack(tmp_path)
    server.create()
    yield server
    server.destroy()


def test_zone_drawn_on_the_admin_map_is_saved_and_bad_text_shows_the_field_error(stack):
    from playwright.sync_api import expect, sync_playwright

    seeded = stack.django(SEED)
    stack.start()
    OUTPUT.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        sign_in(page, stack.url, "op", "edit-the-map-42", next_path="/admin/")
        page.wait_for_url(f"{stack.url}/admin/")

        # Draw a triangle on the zone's add page.
        page.goto(f"{stack.url}/admin/cameras/zone/add/")
        page.select_option("#id_camera", str(seeded["camera"]))
        page.fill("#id_name", "Entry lane")
        page.select_option("#id_kind", "entry")
        # The camera's other zone is drawn faintly for context (and the map moves to it).
        expect(page.locator("#id_geometry_map path.context-zone")).to_have_count(1)
        map_box = page.locator("#id_geometry_map").bounding_box()
        page.locator("#id_geometry_map .leaflet-pm-icon-polygon").click()
        cx, cy = map_box["x"] + map_box["width"] / 2, map_box["y"] + map_box["height"] / 2
        corners = [(cx - 60, cy - 40), (cx + 60, cy - 40), (cx, cy + 50)]
        for x, y in corners:
            page.mouse.click(x, y)
        page.mouse.click(*corners[0])  # closing on the first vertex finishes the polygon
        drawn = json.loads(page.input_value("#id_geometry"))
        assert drawn["type"] == "Polygon"
        ring = drawn["coordinates"][0]
        assert len(ring) == 4 and ring[0] == ring[-1]
        page.screenshot(path=str(OUTPUT / "admin_zone_drawn.png"))
        page.click("input[name=_save]")
        expect(page.locator(".messagelist .success")).to_be_visible()

        zones = page.request.get(f"{stack.url}/api/zones/?name=Entry%20lane").json()["results"]
        assert [zone["geometry"] for zone in zones] == [drawn]

        # The same zone with a ring outside lat/lon bounds typed as text: the field error.
        page.goto(f"{stack.url}/admin/cameras/zone/{zones[0]['id']}/change/")
        expect(page.locator("#id_geometry_map path.leaflet-interactive")).to_have_count(1)
        expect(page.locator("#id_geometry_map path.context-zone")).to_have_count(1)
        bad = {"type": "Polygon", "coordinates": [[[200, 51], [201, 51], [201, 52], [200, 51]]]}
        page.fill("#id_geometry", json.dumps(bad))
        page.click("input[name=_save]")
        error = page.locator(".field-geometry .errorlist")
        expect(error).to_contain_text("longitude 200 is out of range")
        page.screenshot(path=str(OUTPUT / "admin_zone_error.png"))
        unchanged = page.request.get(f"{stack.url}/api/zones/{zones[0]['id']}/").json()
        assert unchanged["geometry"] == drawn

        # The camera page: a click on the map sets latitude and longitude; saving keeps them.
        page.goto(f"{stack.url}/admin/cameras/camera/{seeded['camera']}/change/")
        expect(page.locator("#id_latitude_map .leaflet-marker-icon")).to_have_count(1)
        # The zones inline: each zone has its map; one added on the page gets one too, with
        # the camera's two zones drawn faintly around it.
        expect(page.locator("#id_zones-0-geometry_map")).to_be_visible()
        page.locator("#zones-group .add-row a").click()
        expect(page.locator("#id_zones-2-geometry_map path.context-zone")).to_have_count(2)
        page.locator("#id_latitude_map").scroll_into_view_if_needed()
        box = page.locator("#id_latitude_map").bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2 + 80, box["y"] + box["height"] / 2 - 50)
        latitude, longitude = (
            float(page.input_value("#id_latitude")),
            float(page.input_value("#id_longitude")),
        )
        assert latitude > 51.5074 and longitude > -0.1278
        page.click("input[name=_save]")
        expect(page.locator(".messagelist .success")).to_be_visible()
        camera = page.request.get(f"{stack.url}/api/cameras/{seeded['camera']}/").json()
        assert (camera["latitude"], camera["longitude"]) == (latitude, longitude)
        browser.close()
