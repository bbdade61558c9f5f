"""Sending one delivery's request: its body, authentication and signature, and an answer
that never quotes the exporter's credentials back."""

import base64
import logging
from dataclasses import replace
from urllib.parse import parse_qsl, urlsplit

from ..models import ExporterConfig
from ..payloads import delivery_body
from ..signing import SIGNATURE_HEADER, signature_header
from ..transport import SendResult, request_send

logger = logging.getLogger(__name__)


def delivery_send(
    *, exporter: ExporterConfig, delivery_id, events: list, hits=None, test: bool = False
):
    """Build one delivery's request (or the test action's) and send it. An error of ours, not
    the receiver's, is a failed attempt retried on its schedule: it must neither stop the
    other deliveries of a message, whose outcomes are recorded together afterwards, nor fail
    the test action. With `hits` (a list), the request carries those hits instead."""
    try:
        body = delivery_body(
            delivery_id=delivery_id, exporter_name=exporter.name, events=events, hits=hits
        )
        headers = request_headers(exporter=exporter, delivery_id=delivery_id, body=body)
        if test:
            headers["X-ANPR-Test"] = "1"
        result = request_send(
            url=exporter.url,
            method=exporter.method,
            headers=headers,
            body=body,
            timeout=exporter.timeout_seconds,
        )
    except Exception as error:
        logger.error(
            "Export delivery %s to exporter %s failed unexpectedly (%s).",
            delivery_id,
            exporter.pk,
            type(error).__name__,
            exc_info=True,
        )
        return SendResult(None, 0, f"Unexpected error while sending: {type(error).__name__}.", True)
    # The error quotes the receiver's answer, which goes to the API, the admin and the logs:
    # a receiver that echoes our credentials (write-only everywhere) must not leak them there.
    query = urlsplit(exporter.url).query
    credentials = [exporter.secret, headers.get("Authorization", ""), query]
    values = [*exporter.headers.values(), *(value for _, value in parse_qsl(query))]
    credentials += [value for value in values if len(value) >= 6]  # "1" is no secret
    if result.error and any(c and c in result.error for c in credentials):
        error = result.error
        for credential in credentials:
            if credential:
                error = error.replace(credential, "[redacted]")
        result = replace(result, error=error)
    return result


def request_headers(*, exporter: ExporterConfig, delivery_id, body: bytes) -> dict[str, str]:
    headers = {
        **exporter.headers,
        "Content-Type": "application/json",
        "User-Agent": "anpr-exporter/1",
        "X-ANPR-Delivery": str(delivery_id),
    }
    auth = ExporterConfig.AuthType
    if exporter.auth_type == auth.BEARER:
        headers["Authorization"] = f"Bearer {exporter.secret}"
    elif exporter.auth_type == auth.BASIC:
        pair = f"{exporter.username}:{exporter.secret}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    elif exporter.auth_type == auth.HMAC:
        headers[SIGNATURE_HEADER] = signature_header(secret=exporter.secret, body=body)
    return headers
