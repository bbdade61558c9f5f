"""Sending one HTTP request to a receiver safely: the destination's resolved address is checked
(no loopback, private, link-local or metadata addresses unless allowed), the connection goes to
exactly that address (Host and TLS SNI keep the name), redirects are never followed, timeouts
always apply and the response body is read only up to a cap.
"""

import ipaddress
import logging
import os
import socket
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from core.ids import ascii_integer

#: Cloud metadata endpoints, refused even when an allowed network would contain them.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)

#: Retried: the receiver may take it next time. Other 4xx mean our request is wrong for it.
RETRYABLE_STATUS = frozenset({408, 425, 429})

CONNECT_TIMEOUT = 5.0

logger = logging.getLogger(__name__)


class DestinationRefused(Exception):
    """The URL points somewhere exporters may not send to; retrying will not help."""


class ResolveFailed(Exception):
    """DNS did not answer; worth another try later."""


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


#: IPv6 ranges whose last 32 bits are an IPv4 address the packets reach: NAT64 (well-known and
#: local-use prefixes, RFC 6052/8215, in their /96 layout), SIIT and IPv4-compatible addresses.
IPV4_IN_LAST_32_BITS = tuple(
    ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "::ffff:0:0:0/96", "::/96")
)
#: For local use only (RFC 8215): never global, whatever it carries.
NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")


def ipv4_embedded(address: ipaddress.IPv4Address | ipaddress.IPv6Address):
    """The IPv4 address an IPv6 one carries (mapped, SIIT, IPv4-compatible, NAT64, 6to4, or a
    Teredo client), or None."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]  # the client, its obfuscation already undone
    if any(address in network for network in IPV4_IN_LAST_32_BITS):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Public addresses pass; others only inside EXPORTER_ALLOWED_NETWORKS; metadata never.
    An IPv6 address that carries an IPv4 one is judged by that IPv4 address, where its
    packets end up (so a private address cannot pass as a global IPv6 one)."""
    embedded = ipv4_embedded(address)
    judged = embedded or address
    if address in METADATA_ADDRESSES or judged in METADATA_ADDRESSES:
        return False
    if judged.is_global and not judged.is_multicast and address not in NAT64_LOCAL_USE:
        return True
    return any(
        candidate in network
        for network in settings.EXPORTER_ALLOWED_NETWORKS
        for candidate in (address, judged)
    )


def destination_resolve(url: str) -> tuple[str, int, str]:
    """(host name, port, checked IP) for the URL, or DestinationRefused. The refusal does not
    name the resolved addresses (the user learns nothing of internal DNS); the log does."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DestinationRefused("Only http:// and https:// URLs with a host are sent to.")
    try:
        port = parts.port if parts.port is not None else (443 if parts.scheme == "https" else 80)
    except ValueError:  # out of range or not a number: urlsplit says so only when asked
        port = 0
    if not port:
        raise DestinationRefused("The URL's port must be a number from 1 to 65535.")
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise ResolveFailed(f"Cannot resolve {parts.hostname}: {error}") from None
    refused = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if address_allowed(address):
            return parts.hostname, port, str(address)
        refused.append(str(address))
    logger.warning(
        "Exporter destination %s refused: it resolves to %s.",
        parts.hostname,
        ", ".join(sorted(set(refused))),
    )
    raise DestinationRefused(
        f"The address of {parts.hostname} is not allowed: loopback, private, link-local and "
        "metadata addresses are refused unless listed in EXPORTER_ALLOWED_NETWORKS."
    )


class PinnedAddressAdapter(HTTPAdapter):
    """Connects to the address in the URL (already checked) while TLS verifies and SNI names
    the original host, which the request carries as `pinned_hostname`."""

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        hostname = getattr(request, "pinned_hostname", None)
        if hostname and host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = hostname
            pool_kwargs["assert_hostname"] = hostname
        return host_params, pool_kwargs


_session: requests.Session | None = None
_session_pid: int | None = None


def session() -> requests.Session:
    """One pooled session per process (a forked worker makes its own)."""
    global _session, _session_pid
    if _session is None or _session_pid != os.getpid():
        created = requests.Session()
        created.trust_env = False  # no proxies from the environment: they would skip the check
        adapter = PinnedAddressAdapter(pool_connections=32, pool_maxsize=32, max_retries=0)
        created.mount("http://", adapter)
        created.mount("https://", adapter)
        _session, _session_pid = created, os.getpid()
    return _session


def request_send(
    *, url: str, method: str, headers: dict[str, str], body: bytes, timeout: float
) -> SendResult:
    """Send once and classify the outcome; never raises for network trouble."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        hostname, port, address = destination_resolve(url)
    except DestinationRefused as error:
        return SendResult(None, elapsed(), str(error), retryable=False)
    except ResolveFailed as error:
        return SendResult(None, elapsed(), str(error), retryable=True)

    parts = urlsplit(url)
    netloc = f"[{address}]" if ":" in address else address
    host_header = f"[{hostname}]" if ":" in hostname else hostname
    if parts.port is not None:  # a port as the URL has it; the scheme's default stays implicit
        netloc, host_header = f"{netloc}:{port}", f"{host_header}:{port}"
    pinned_url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))

    try:  # preparing refuses some header values (e.g. with leading spaces): no retry helps
        request = requests.Request(
            method, pinned_url, data=body, headers={**headers, "Host": host_header}
        ).prepare()
        request.pinned_hostname = hostname
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
