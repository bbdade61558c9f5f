"""Sending one HTTP request to a receiver safely: the destination's resolved address is checked
(no loopback, private, link-local or metadata addresses unless allowed), the connection goes to
exactly that address (Host and TLS SNI keep the name), redirects are never followed, timeouts
always apply and the response body is read only up to a cap.
"""

import logging
import os
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import requests
from django.conf import settings

from core import outbound
from core.ids import ascii_integer
from core.outbound import DestinationRefused, ResolveFailed

#: Retried: the receiver may take it next time. Other 4xx mean our request is wrong for it.
RETRYABLE_STATUS = frozenset({408, 425, 429})

CONNECT_TIMEOUT = 5.0

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendResult:
    """What one request did. `retryable` is None when it succeeded."""

    status_code: int | None
    response_ms: int
    error: str
    retryable: bool | None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.retryable is None


ALLOWED_SETTING = "EXPORTER_ALLOWED_NETWORKS"


def address_allowed(address) -> bool:
    """core.outbound.address_allowed under EXPORTER_ALLOWED_NETWORKS."""
    return outbound.address_allowed(address, allowed_setting=ALLOWED_SETTING)


def destination_resolve(url: str) -> tuple[str, int, str]:
    """core.outbound.destination_resolve under EXPORTER_ALLOWED_NETWORKS."""
    return outbound.destination_resolve(url, allowed_setting=ALLOWED_SETTING)


_session: requests.Session | None = None
_session_pid: int | None = None


def session() -> requests.Session:
    """One pooled session per process (a forked worker makes its own)."""
    global _session, _session_pid
    if _session is None or _session_pid != os.getpid():
        _session, _session_pid = outbound.pinned_session(pool_size=32), os.getpid()
    return _session


def request_send(
    *, url: str, method: str, headers: dict[str, str], body: bytes, timeout: float
) -> SendResult:
    """Send once and classify the outcome; never raises for network trouble."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:  # preparing refuses some header values (e.g. with leading spaces): no retry helps
        request = outbound.pinned_request(
            url=url, method=method, headers=headers, body=body, allowed_setting=ALLOWED_SETTING
        )
    except DestinationRefused as error:
        return SendResult(None, elapsed(), str(error), retryable=False)
    except ResolveFailed as error:
        return SendResult(None, elapsed(), str(error), retryable=True)
    except requests.RequestException as error:
        return SendResult(None, elapsed(), f"Request failed: {type(error).__name__}", False)
    try:
        response = session().send(
            request,
            timeout=(min(CONNECT_TIMEOUT, timeout), timeout),
            allow_redirects=False,
            stream=True,
        )
    except requests.Timeout:
        return SendResult(None, elapsed(), f"Timed out after {timeout:g} s.", retryable=True)
    except requests.ConnectionError as error:
        return SendResult(None, elapsed(), _connection_error(error), retryable=True)
    except requests.RequestException as error:
        return SendResult(None, elapsed(), f"Request failed: {type(error).__name__}", False)

    with response:
        try:
            excerpt = _read_capped(response)
        except requests.RequestException:
            excerpt = ""
    ms = elapsed()
    code = response.status_code
    if 200 <= code < 300:
        return SendResult(code, ms, "", retryable=None)
    detail = f"HTTP {code}" + (f": {excerpt}" if excerpt else "")
    if 300 <= code < 400:
        location = response.headers.get("Location", "")
        return SendResult(
            code, ms, f"HTTP {code} redirect to {location[:200]!r} not followed.", False
        )
    retryable = code >= 500 or code in RETRYABLE_STATUS
    return SendResult(
        code,
        ms,
        detail,
        retryable=retryable,
        retry_after=_retry_after(response.headers.get("Retry-After")) if retryable else None,
    )


def _read_capped(response: requests.Response) -> str:
    """Up to 200 characters of the body for the error message, reading at most the cap."""
    cap = settings.EXPORTER_RESPONSE_MAX_BYTES
    received = b""
    for chunk in response.iter_content(chunk_size=8192):
        received += chunk
        if len(received) >= cap:
            break
    return received[: min(cap, 200)].decode("utf-8", "replace").strip()


def _connection_error(error: requests.ConnectionError) -> str:
    reason = error.args[0] if error.args else error
    reason = getattr(reason, "reason", reason)
    return f"Connection failed: {reason}"[:500]


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if (seconds := ascii_integer(value)) is not None:
        return float(seconds)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())
