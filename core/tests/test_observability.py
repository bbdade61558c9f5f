"""Request ids, the request log without secrets, and /metrics with our own counters."""

import ipaddress
import json
import logging
import re

import pytest

from core import metrics
from core.logging import JsonFormatter, PlainFormatter, redact

pytestmark = pytest.mark.django_db


def test_every_response_carries_a_request_id(client):
    first = client.get("/health")
    second = client.get("/health")
    assert re.fullmatch(r"[0-9a-f]{32}", first["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_a_sane_incoming_request_id_is_kept_and_a_strange_one_replaced(client):
    kept = client.get("/health", HTTP_X_REQUEST_ID="edge-proxy:4f1c.77")
    assert kept["X-Request-ID"] == "edge-proxy:4f1c.77"
    for strange in ("a b c d e f g h", "x" * 500, "<script>", "short"):
        replaced = client.get("/health", HTTP_X_REQUEST_ID=strange)
        assert replaced["X-Request-ID"] != strange
        assert re.fullmatch(r"[0-9a-f]{32}", replaced["X-Request-ID"])


def _formatted(caplog) -> str:
    json_lines = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    plain_lines = "\n".join(PlainFormatter().format(record) for record in caplog.records)
    return json_lines + "\n" + plain_lines


def test_request_log_has_method_path_status_duration_and_request_id(client, caplog):
    with caplog.at_level(logging.INFO, logger="anpr.request"):
        response = client.get("/api/cameras/?page=2", HTTP_X_REQUEST_ID="req-12345678")
    record = next(r for r in caplog.records if r.name == "anpr.request")
    line = json.loads(JsonFormatter().format(record))
    assert line["method"] == "GET"
    assert line["path"] == "/api/cameras/"  # the query string is never logged
    assert line["status"] == response.status_code
    assert line["duration_ms"] >= 0
    assert line["request_id"] == "req-12345678"
    assert line["level"] == "INFO" and line["logger"] == "anpr.request"


@pytest.mark.parametrize(
    "path",
    [
        "/api/events/ingest/{key}/",
        "/api/ingest/platerecognizer/{key}/",
        "/api/cameras/?token={key}",
    ],
)
def test_device_keys_in_paths_and_headers_never_reach_the_logs(
    client, caplog, device_with_key, path
):
    _, key = device_with_key
    with caplog.at_level(logging.INFO):
        client.post(
            path.format(key=key),
            data="{}",
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Token {key}",
            HTTP_X_API_KEY=key,
        )
    assert any(r.name == "anpr.request" for r in caplog.records)
    text = _formatted(caplog)
    assert key not in text
    assert key[:20] not in text
    assert "***" in text


def test_redact_masks_issued_keys_user_tokens_and_query_tokens():
    line = (
        "POST /api/events/ingest/whatever-the-device-sent/ ?token=abc123 "
        "Authorization: Bearer anpru_0123456789abcdefghijk X-API-Key: anprd_zzzzzzzzzzzzzz\n"
        "GET /api/event-images/MDE5YjE.plate:1vXyZ:signature/"
    )
    masked = redact(line)
    secrets = ("whatever-the-device-sent", "abc123", "anpru_0123", "anprd_zzzz", "MDE5YjE")
    for secret in secrets:
        assert secret not in masked


def test_a_short_line_is_masked_every_time_it_is_logged():
    """Short lines without secrets are remembered (they recur); one with a key is masked
    again each time, never kept."""
    clean, keyed = "POST /api/events/ingest/ 201", "POST /api/events/ingest/anprd_0123456789ab/ 201"
    for _ in range(3):
        assert redact(clean) == clean
        assert redact(keyed) == "POST /api/events/ingest/***/ 201"


def test_metrics_expose_django_and_our_counters_to_an_allowed_network(client):
    metrics.EVENTS_ACCEPTED.labels(source="native", camera="north-gate").inc(3)
    metrics.INGEST_LATENCY.labels(source="native").observe(0.02)
    response = client.get("/metrics")  # the test client comes from 127.0.0.1
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    body = response.content.decode()
    assert re.search(r'anpr_events_accepted_total\{camera="north-gate",source="native"\} \d', body)
    for name in (
        "anpr_events_refused_total",
        "anpr_ingest_latency_seconds_bucket",
        "anpr_websocket_connections",
        "anpr_export_deliveries",
        "django_http_requests_total_by_method_total",
    ):
        assert name in body, name


def test_metrics_are_refused_outside_the_allowed_networks_unless_the_token_is_sent(
    client, settings
):
    settings.METRICS_TOKEN = "scrape-secret-for-tests"
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    refused = client.get("/metrics", **outside)
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"
    for not_it in ("not-it", "scrape-secret-för-tests", "\xc3\xa9t\xc3\xa9"):  # also non-ASCII
        wrong = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {not_it}", **outside)
        assert wrong.status_code == 403 and wrong.json()["code"] == "permission_denied"
    allowed = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret-for-tests", **outside)
    assert allowed.status_code == 200
    assert b"anpr_events_accepted_total" in allowed.content


def test_a_forwarded_address_counts_only_when_our_proxy_header_is_configured(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    spoofed = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_X_REAL_IP="10.1.2.3")
    assert spoofed.status_code == 403
    settings.CLIENT_IP_HEADER = "X-Real-IP"
    proxied = client.get("/metrics", REMOTE_ADDR="172.18.0.5", HTTP_X_REAL_IP="10.1.2.3")
    assert proxied.status_code == 200


def _sample(name, **labels):
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0


def test_ingest_counts_accepted_and_refused_reads_by_source_and_camera(device_client, camera):
    accepted = _sample("anpr_events_accepted_total", source="native", camera=camera.slug)
    refused = _sample("anpr_events_refused_total", source="native", camera=camera.slug)
    unknown = _sample("anpr_events_refused_total", source="native", camera="unknown")
    latency = _sample("anpr_ingest_latency_seconds_count", source="native")
    batch = [
        {"camera": camera.slug, "plate": "AB12CDE", "captured_at": "2026-01-05T10:00:00Z"},
        {"camera": camera.slug, "plate": "", "captured_at": "2026-01-05T10:00:01Z"},
        {"camera": "made-up-by-client", "plate": "XY34", "captured_at": "2026-01-05T10:00:02Z"},
    ]
    response = device_client.post("/api/events/ingest/", batch, format="json")
    assert response.status_code == 201, response.json()
    assert _sample("anpr_events_accepted_total", source="native", camera=camera.slug) == (
        accepted + 1
    )
    assert _sample("anpr_events_refused_total", source="native", camera=camera.slug) == refused + 1
    assert _sample("anpr_events_refused_total", source="native", camera="unknown") == unknown + 1
    assert _sample("anpr_ingest_latency_seconds_count", source="native") == latency + 1
    # A value the client made up never becomes a label (it would grow the metrics for ever).
    assert _sample("anpr_events_refused_total", source="native", camera="made-up-by-client") == 0


def test_ingest_is_throttled_per_device_with_a_json_429(device_client, camera, settings):
    settings.INGEST_THROTTLE_RATE = "1/min"
    body = {"camera": camera.slug, "plate": "AB12CDE", "captured_at": "2026-01-05T10:00:00Z"}
    assert device_client.post("/api/events/ingest/", body, format="json").status_code == 201
    refused = device_client.post("/api/events/ingest/", body, format="json")
    assert refused.status_code == 429 and refused.json()["code"] == "throttled"


@pytest.mark.django_db(transaction=True)
def test_websocket_connections_gauge_follows_subscribers(viewer):
    from asgiref.sync import async_to_sync
    from channels.testing import WebsocketCommunicator

    from anpr.asgi import application
    from cameras.services import user_token_issue

    token = user_token_issue(user=viewer, name="live map").key
    origin = (b"origin", b"http://127.0.0.1")
    before = _sample("anpr_websocket_connections")

    async def scenario():
        site = [(b"host", b"127.0.0.1"), origin]  # the site's own origin
        anonymous = WebsocketCommunicator(application, "/ws/events/", headers=site)
        await anonymous.connect(timeout=5)
        assert (await anonymous.receive_output(timeout=5))["type"] == "websocket.close"
        assert _sample("anpr_websocket_connections") == before  # a refused client is not live
        headers = [origin, (b"authorization", f"Bearer {token}".encode())]
        subscriber = WebsocketCommunicator(application, "/ws/events/", headers=headers)
        connected, _ = await subscriber.connect(timeout=5)
        assert connected
        await subscriber.send_json_to({"type": "ping"})
        assert await subscriber.receive_json_from(timeout=5) == {"type": "pong"}
        assert _sample("anpr_websocket_connections") == before + 1
        await subscriber.disconnect()
        assert _sample("anpr_websocket_connections") == before

    async_to_sync(scenario)()


def test_metrics_of_several_processes_add_up_through_the_multiprocess_folder(tmp_path):
    """What gunicorn's workers do: each counts in its own process, /metrics shows the sum."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus")}
    env.pop("DATABASE_URL", None)  # the metrics of this test need no database
    env.pop("REDIS_URL", None)
    env["DATA_DIR"] = str(tmp_path / "data")
    count = (
        "import django; django.setup(); from core import metrics; "
        "metrics.EVENTS_ACCEPTED.labels(source='native', camera='north-gate').inc(2)"
    )
    for _ in range(2):  # two worker processes, each gone afterwards
        done = subprocess.run([sys.executable, "-c", count], env=env, capture_output=True)
        assert done.returncode == 0, done.stderr
    scrape = (
        "import django; django.setup(); "
        "from core.metrics import _process_registry; "
        "import prometheus_client; "
        "print(prometheus_client.generate_latest(_process_registry()).decode())"
    )
    done = subprocess.run([sys.executable, "-c", scrape], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert 'anpr_events_accepted_total{camera="north-gate",source="native"} 4.0' in done.stdout
