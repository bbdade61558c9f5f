"""Request id and the request log: one line per request, without secrets.

The id comes from the caller's X-Request-ID when it looks like an id (so a proxy's id follows
the request through our logs), else we make one; it goes back in the X-Request-ID header.
"""

import logging
import os
import re
import time

from .logging import MASK, redact, request_id_var
from .metrics import DEVICE_REQUESTS, labelled

logger = logging.getLogger("anpr.request")

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{8,128}$")
_PROBES = frozenset(("/health", "/liveness", "/ready", "/metrics"))


def request_id_from(request) -> str:
    incoming = request.META.get("HTTP_X_REQUEST_ID", "")
    # 32 random hex digits, as uuid4().hex but without building a UUID object
    return incoming if _SANE_REQUEST_ID.match(incoming) else os.urandom(16).hex()


def masked_path(request) -> str:
    """The path as we may log it: a device key in a URL keyword becomes ***, and keys or
    tokens anywhere else are masked too. The query string is never logged."""
    path = request.path
    match = getattr(request, "resolver_match", None)
    if match is not None:
        for name, value in match.kwargs.items():
            if "key" in name or "token" in name:
                path = path.replace(str(value), MASK)
    return redact(path)


def request_logged(request, get_response):
    """get_response(request) under the request's id, which the answer carries back and the
    log line names."""
    request.request_id = request_id_from(request)
    token = request_id_var.set(request.request_id)
    started = time.perf_counter()
    try:
        response = get_response(request)
        response[REQUEST_ID_HEADER] = request.request_id
        level = logging.INFO
        if response.status_code == 503:  # unavailable for now (an outage is logged once)
            level = logging.WARNING
        elif response.status_code >= 500:
            level = logging.ERROR
        if request.path in _PROBES and response.status_code < 400:
            level = logging.DEBUG  # health checks and scrapes every few seconds: noise
        if logger.isEnabledFor(level):  # the masked path costs a regex; build it once
            path = masked_path(request)
            # Made and handed over as logger.log would, without its walk up the stack for
            # the caller's file and line (always this function): 7% of a device read.
            record = logger.makeRecord(
                logger.name,
                level,
                __file__,
                request_logged.__code__.co_firstlineno,
                "%s %s %s",
                (request.method, path, response.status_code),
                None,
                func="request_logged",
                extra={
                    "request_id": request.request_id,
                    "method": request.method,
                    "path": path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            logger.handle(record)
        return response
    finally:
        request_id_var.reset(token)


class RequestIdMiddleware:
    """Sets the request id for the logs and the response, and logs the request's outcome."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return request_logged(request, self.get_response)


class DeviceRequestsMetricsMiddleware:
    """Counts device requests by status code (anpr_device_requests_total): the device paths'
    stand-in for django-prometheus, whose ten labelled counters and histograms per request
    cost 15% of a single-read ingest's CPU. How long ingest takes is
    anpr_ingest_latency_seconds."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        labelled(DEVICE_REQUESTS, str(response.status_code)).inc()
        return response


class DeviceCommonMiddleware:
    """What Django's CommonMiddleware does for a device request, for a tenth less of a single
    read's CPU: the ALLOWED_HOSTS check (a host outside it is a 400) and a Content-Length on
    every complete answer (without one gunicorn sends it chunked). The rest has nothing to do
    for a device: no user-agent blocklist or www. prefix is configured (DISALLOWED_USER_AGENTS,
    PREPEND_WWW), and a slash-appending redirect cannot carry a POST's body."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.get_host()  # raises DisallowedHost: Django answers 400
        response = self.get_response(request)
        if not response.streaming and "Content-Length" not in response:
            response["Content-Length"] = str(len(response.content))
        return response
