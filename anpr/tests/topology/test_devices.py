"""Through nginx, what a device meets: its key in a header or in the path (and in no log),
a vendor's post reaching live websocket clients, an over-limit body refused by nginx itself,
and the worker delivering its read to an exporter's receiver while beat keeps time."""

import json
import socket
import time
import uuid
from datetime import UTC, datetime

import requests
from websockets.sync.client import connect as websocket_connect

from anpr.tests.topology.clients import device_read, viewer_signed_in
from anpr.tests.topology.processes import ROOT, Topology, wait_for

PLATE_RECOGNIZER_SAMPLE = ROOT / "events/tests/payloads/platerecognizer_snapshot_webhook.json"


def test_a_device_read_by_header_key_and_by_key_in_the_path_with_the_key_kept_out_of_logs(
    topology,
):
    key = topology.device_key
    by_header = requests.post(
        f"{topology.url}/api/events/ingest/",
        json=device_read("HDR001"),
        headers={"X-API-Key": key},
        timeout=10,
    )
    in_path = requests.post(
        f"{topology.url}/api/events/ingest/{key}/", json=device_read("PTH001"), timeout=10
    )
    assert (by_header.status_code, in_path.status_code) == (201, 201), in_path.text

    topology.wait_for_access(path="/api/events/ingest/", status=201)
    topology.wait_for_access(path="/api/events/ingest/***/", status=201)
    for log in (topology.folder / "logs").glob("*.log"):
        assert key not in log.read_text(errors="replace"), f"the device key is in {log.name}"


def _stream(topology: Topology, headers: dict):
    """A client of the live stream through nginx, from the site's own origin."""
    return websocket_connect(
        f"{topology.url.replace('http', 'ws', 1)}/ws/events/",
        origin=topology.url,
        additional_headers=headers,
        open_timeout=10,
    )


def _plates_received(client, wanted: set[str], timeout: float = 15) -> set[str]:
    """Plates of the event.created frames until `wanted` came (earlier reads may come too)."""
    plates: set[str] = set()
    deadline = time.monotonic() + timeout
    while not wanted <= plates and time.monotonic() < deadline:
        try:
            frame = json.loads(client.recv(timeout=deadline - time.monotonic()))
        except TimeoutError:
            break
        if frame["type"] == "event.created":
            plates.add(frame["event"]["plate"])
    return plates


def _recent(sample) -> bytes:
    """The vendor's sample, dated now: a read older than the retention period is refused."""
    document = json.loads(sample.read_bytes())
    document["data"]["timestamp"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return json.dumps(document).encode()


def test_a_vendor_post_reaches_websocket_clients_through_nginx(topology):
    cookies = "; ".join(f"{k}={v}" for k, v in viewer_signed_in(topology).cookies.items())
    wanted = {"765410", "830265"}  # the sample's two plates
    with (
        _stream(topology, {"Authorization": f"Bearer {topology.token}"}) as integration,
        _stream(topology, {"Cookie": cookies}) as live_map,  # the browser's map page
    ):
        response = requests.post(
            f"{topology.url}/api/ingest/platerecognizer/{topology.device_key}/",
            data=_recent(PLATE_RECOGNIZER_SAMPLE),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        assert [r["status"] for r in response.json()["results"]] == ["created", "created"]
        assert wanted <= _plates_received(integration, wanted)
        assert wanted <= _plates_received(live_map, wanted)
    topology.wait_for_access(path="/api/ingest/platerecognizer/***/", status=201)
    assert topology.device_key not in topology.log("nginx-access")


def _declared_only(topology: Topology, path: str, length: int) -> str:
    """The answer to a POST that declares `length` bytes of body and sends none."""
    port = int(topology.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()
            + f"X-API-Key: {topology.device_key}\r\nContent-Type: application/json\r\n".encode()
            + f"Content-Length: {length}\r\n\r\n".encode()
        )
        return connection.recv(65536).decode(errors="replace")


def test_an_over_limit_body_is_refused_by_nginx_without_logging_a_key(topology):
    for path in ("/api/events/ingest/", f"/api/events/ingest/{topology.device_key}/"):
        answer = _declared_only(topology, path, 13_000_000)
        assert answer.startswith("HTTP/1.1 413"), answer[:200]
        assert "nginx" in answer  # nginx's own page: the body never reached the application
    topology.wait_for_access(path="/api/events/ingest/", status=413)
    topology.wait_for_access(path="/api/events/ingest/***/", status=413)
    # nginx's error log quotes the request line of what it refuses
    assert topology.device_key not in topology.log("nginx-error")


def test_the_worker_delivers_a_read_to_the_receiver_and_beat_keeps_time(topology):
    plate = f"EXP{uuid.uuid4().hex[:4].upper()}"
    response = requests.post(
        f"{topology.url}/api/events/ingest/",
        json=device_read(plate),
        headers={"X-API-Key": topology.device_key},
        timeout=10,
    )
    assert response.status_code == 201, response.text

    def delivered():
        return [r for r in list(topology.sink.received) if plate.encode() in r.body]

    [delivery] = wait_for(delivered, timeout=30, message=f"{plate} at the receiver")
    assert response.json()["id"] in delivery.body.decode()
    wait_for(
        lambda: "Sending due task exporters-sweep" in topology.log("beat"),
        timeout=10,
        message="beat to send the delivery sweep",
    )
    wait_for(
        lambda: "exporter_deliveries_sweep" in topology.log("worker"),
        timeout=10,
        message="the worker to run beat's sweep",
    )
