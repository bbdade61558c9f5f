"""What a device and a viewer do first: a read in our own format, a session signed in
through the sign-in page."""

import time
import uuid

import requests

from anpr.tests.topology.processes import VIEWER_PASSWORD, Topology


def device_read(plate: str) -> dict:
    """A device's read in our own format, just captured."""
    return {
        "event_id": uuid.uuid4().hex,
        "plate": plate,
        "captured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2)),
        "confidence": 0.93,
    }


def viewer_signed_in(topology: Topology) -> requests.Session:
    """A viewer signed in through the sign-in page, sending Origin as a browser does."""
    session = requests.Session()
    assert session.get(f"{topology.url}/login/", timeout=10).status_code == 200
    response = session.post(
        f"{topology.url}/login/",
        data={
            "username": "viewer",
            "password": VIEWER_PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Origin": topology.url, "Referer": f"{topology.url}/login/"},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text[:500]
    return session
