"""Our Prometheus metrics, defined in one place so every app increments the same objects, and
the /metrics view.

Two kinds:
- Process counters (events accepted/refused, ingest latency, websocket connections) live in
  the process that sees them. Under gunicorn several workers add theirs up through
  PROMETHEUS_MULTIPROC_DIR (see deploy/gunicorn.conf.py); daphne is one process.
- Facts that live in the database (deliveries by status, dead deliveries, purge runs) are read
  when Prometheus scrapes, so they are right whichever process changed them (the Celery
  worker has no /metrics of its own).

Label values must come from a bounded set: `camera` is the slug of a known camera, or
"unknown" for a request naming no camera of ours (never a value a client sent).
"""

import hmac
import ipaddress
import os

import prometheus_client
from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from .security import client_ip

UNKNOWN_CAMERA = "unknown"

EVENTS_ACCEPTED = prometheus_client.Counter(
    "anpr_events_accepted",
    "Plate reads stored, by source (native or a vendor dialect) and camera slug.",
    ["source", "camera"],
)
EVENTS_REFUSED = prometheus_client.Counter(
    "anpr_events_refused",
    "Plate reads refused (invalid, unknown camera, not the device's camera), by source and "
    "camera slug ('unknown' when the read named no camera of ours).",
    ["source", "camera"],
)
INGEST_LATENCY = prometheus_client.Histogram(
    "anpr_ingest_latency_seconds",
    "Time to validate and store one ingest request (single read or batch), by source.",
    ["source"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DEVICE_REQUESTS = prometheus_client.Counter(
    "anpr_device_requests",
    "Requests to the device paths (ingest) by status code; under gunicorn they are not in "
    "django-prometheus's django_http_* metrics.",
    ["status"],
)
WEBSOCKET_CONNECTIONS = prometheus_client.Gauge(
    "anpr_websocket_connections",
    "Live websocket connections (the live map and scripts).",
    multiprocess_mode="livesum",
)


def ingest_observe(*, reads, results, camera_slug, seconds: float) -> None:
    """Count one ingest call: each read accepted (created or duplicate) or refused, by source
    and camera, and the call's duration. `camera_slug(ref)` is the slug of the device's
    camera a read's reference names (None: a read naming something else, counted under
    "unknown")."""
    for read, result in zip(reads, results, strict=True):
        source = read.source or "native"
        camera = camera_slug(read.camera) or UNKNOWN_CAMERA
        labelled(
            EVENTS_REFUSED if result.status == "rejected" else EVENTS_ACCEPTED, source, camera
        ).inc()
    if reads:
        labelled(INGEST_LATENCY, reads[0].source or "native").observe(seconds)


#: The metrics' children by label values: labels() checks and builds its key on every call.
_children: dict[tuple, object] = {}


def labelled(metric, *values):
    """metric.labels(*values), kept: for counts made on every ingest request."""
    key = (metric, *values)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*values)
    return child


class DatabaseCollector:
    """Deliveries by status and purge runs, counted in the database at scrape time."""

    def collect(self):
        yield from _delivery_metrics()
        yield from _purge_metrics()


def _delivery_metrics():
    from django.apps import apps

    try:
        delivery = apps.get_model("exporters", "ExportDelivery")
    except LookupError:  # the exporters app has no outbox model (yet)
        return
    from django.db.models import Count

    by_status = GaugeMetricFamily(
        "anpr_export_deliveries", "Export deliveries in the outbox, by status.", labels=["status"]
    )
    counts = dict(delivery.objects.values_list("status").annotate(n=Count("pk")).order_by())
    for status in getattr(delivery, "Status", None) or counts:
        value = getattr(status, "value", status)
        by_status.add_metric([value], counts.get(value, 0))
    yield by_status
    dead = GaugeMetricFamily(
        "anpr_export_deliveries_dead",
        "Deliveries that gave up (status dead): they wait for an operator to redeliver.",
    )
    dead.add_metric([], counts.get("dead", 0))
    yield dead


def _purge_metrics():
    from django.apps import apps

    try:
        purge_run = apps.get_model("events", "PurgeRun")
    except LookupError:
        return
    from django.db.models import Count, Max, Sum

    totals = purge_run.objects.aggregate(
        runs=Count("pk"),
        events=Sum("events_deleted"),
        images=Sum("images_cleared"),
        last=Max("finished_at"),
    )
    runs = CounterMetricFamily("anpr_purge_runs", "Retention runs recorded (PurgeRun rows).")
    runs.add_metric([], totals["runs"] or 0)
    yield runs
    events = CounterMetricFamily(
        "anpr_purge_events_deleted", "Events deleted by retention runs, all time."
    )
    events.add_metric([], totals["events"] or 0)
    yield events
    images = CounterMetricFamily(
        "anpr_purge_images_cleared", "Events whose images retention removed, all time."
    )
    images.add_metric([], totals["images"] or 0)
    yield images
    last = GaugeMetricFamily(
        "anpr_purge_last_run_timestamp_seconds", "When the last retention run finished."
    )
    last.add_metric([], totals["last"].timestamp() if totals["last"] else 0)
    yield last


def _process_registry():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return prometheus_client.REGISTRY


def metrics_allowed(request) -> bool:
    """Prometheus may read /metrics from METRICS_ALLOWED_NETWORKS, or anywhere with
    `Authorization: Bearer <METRICS_TOKEN>`. The page names cameras and volumes: not public."""
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, sent = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        # As bytes: compare_digest refuses str with non-ASCII characters (a 500, not a 403).
        sent = sent.strip().encode()
        if scheme.lower() == "bearer" and hmac.compare_digest(sent, token.encode()):
            return True
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


@never_cache
@require_GET
def metrics_view(request):
    if not metrics_allowed(request):
        return JsonResponse(
            {"detail": "Metrics are not public.", "code": "permission_denied"}, status=403
        )
    database = prometheus_client.CollectorRegistry(auto_describe=False)
    database.register(DatabaseCollector())
    body = prometheus_client.generate_latest(_process_registry())
    body += prometheus_client.generate_latest(database)
    return HttpResponse(body, content_type=prometheus_client.CONTENT_TYPE_LATEST)
