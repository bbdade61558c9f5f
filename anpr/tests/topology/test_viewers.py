"""Through nginx, what a viewer meets: event images sent by nginx only after Django said
yes, and JSON answers gzipped with links that keep the public address."""

import gzip
import json

import requests

from anpr.tests.topology.clients import device_read, viewer_signed_in
from events.tests.images import image_bytes


def test_an_event_image_is_sent_by_nginx_to_a_signed_in_viewer_and_refused_to_anonymous(
    topology,
):
    picture = image_bytes()
    created = requests.post(
        f"{topology.url}/api/events/ingest/",
        data={"event": json.dumps(device_read("IMG001"))},
        files={"plate_image": ("crop.jpg", picture, "image/jpeg")},
        headers={"X-API-Key": topology.device_key},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    image_url = f"{topology.url}/api/events/{created.json()['id']}/images/plate/"

    anonymous = requests.get(image_url, timeout=10)
    assert anonymous.status_code in (401, 403)
    assert anonymous.content != picture

    viewer = viewer_signed_in(topology)
    served = viewer.get(image_url, timeout=10)
    assert served.status_code == 200, served.text[:300]
    assert served.content == picture
    assert served.headers["Content-Type"] == "image/jpeg"
    assert "X-Accel-Redirect" not in served.headers  # nginx followed it, the client never sees it
    assert "no-store" in served.headers["Cache-Control"]  # nginx's protected-media location

    stored = next((topology.folder / "media").rglob("*-plate.jpg"))
    internal = f"/protected-media/{stored.relative_to(topology.folder / 'media')}"
    assert requests.get(f"{topology.url}{internal}", timeout=10).status_code == 404


def test_json_answers_are_gzipped_and_their_links_keep_the_public_address(topology):
    for plate in ("GZP001", "GZP002"):
        requests.post(
            f"{topology.url}/api/events/ingest/",
            json=device_read(plate),
            headers={"X-API-Key": topology.device_key},
            timeout=10,
        ).raise_for_status()
    response = requests.get(
        f"{topology.url}/api/events/?page_size=1",
        headers={"Authorization": f"Bearer {topology.token}", "Accept-Encoding": "gzip"},
        stream=True,
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    body = json.loads(gzip.decompress(response.raw.read()))
    assert len(body["results"]) == 1
    assert body["next"].startswith(f"{topology.url}/api/events/?")  # nginx's port kept

    # Behind a load balancer that terminated TLS (docs/production.md, "TLS and proxies"):
    # https links.
    behind_tls = requests.get(
        f"{topology.url}/api/events/?page_size=1",
        headers={"Authorization": f"Bearer {topology.token}", "X-Forwarded-Proto": "https"},
        timeout=10,
    )
    assert behind_tls.json()["next"].startswith(f"https://{topology.url[7:]}/api/events/?")
