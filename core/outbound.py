"""Outbound HTTP to addresses users enter (exporters' receivers, watchlists' source URLs): the
destination's resolved address is checked (no loopback, private, link-local or metadata
addresses unless the caller's setting allows their network), the connection goes to exactly
that address (Host and TLS SNI keep the name), and proxies from the environment are ignored.
"""

import ipaddress
import logging
import socket
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

#: Cloud metadata endpoints, refused even when an allowed network would contain them.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)

#: IPv6 ranges whose last 32 bits are an IPv4 address the packets reach: NAT64 (well-known and
#: local-use prefixes, RFC 6052/8215, in their /96 layout), SIIT and IPv4-compatible addresses.
IPV4_IN_LAST_32_BITS = tuple(
    ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "::ffff:0:0:0/96", "::/96")
)
#: For local use only (RFC 8215): never global, whatever it carries.
NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")

logger = logging.getLogger(__name__)


class DestinationRefused(Exception):
    """The URL points somewhere we may not connect to; retrying will not help."""


class ResolveFailed(Exception):
    """DNS did not answer; worth another try later."""


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


def address_allowed(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allowed_setting: str
) -> bool:
    """Public addresses pass; others only inside the networks listed in the setting named
    `allowed_setting`; metadata never. An IPv6 address that carries an IPv4 one is judged by
    that IPv4 address, where its packets end up (so a private address cannot pass as a global
    IPv6 one)."""
    embedded = ipv4_embedded(address)
    judged = embedded or address
    if address in METADATA_ADDRESSES or judged in METADATA_ADDRESSES:
        return False
    if judged.is_global and not judged.is_multicast and address not in NAT64_LOCAL_USE:
        return True
    return any(
        candidate in network
        for network in getattr(settings, allowed_setting)
        for candidate in (address, judged)
    )


def destination_resolve(url: str, *, allowed_setting: str) -> tuple[str, int, str]:
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
        if address_allowed(address, allowed_setting=allowed_setting):
            return parts.hostname, port, str(address)
        refused.append(str(address))
    logger.warning(
        "Outbound destination %s refused: it resolves to %s.",
        parts.hostname,
        ", ".join(sorted(set(refused))),
    )
    raise DestinationRefused(
        f"The address of {parts.hostname} is not allowed: loopback, private, link-local and "
        f"metadata addresses are refused unless listed in {allowed_setting}."
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


def pinned_session(*, pool_size: int = 1) -> requests.Session:
    """A session that sends pinned requests only (no proxies from the environment: they
    would skip the check; no retries)."""
    created = requests.Session()
    created.trust_env = False
    adapter = PinnedAddressAdapter(
        pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0
    )
    created.mount("http://", adapter)
    created.mount("https://", adapter)
    return created


def pinned_request(
    *, url: str, method: str, headers: dict[str, str], body: bytes | None, allowed_setting: str
) -> requests.PreparedRequest:
    """The request to send through a pinned_session: its URL names the checked address, its
    Host header the name. DestinationRefused, ResolveFailed, or requests' own exception for a
    header value it refuses."""
    hostname, port, address = destination_resolve(url, allowed_setting=allowed_setting)
    parts = urlsplit(url)
    netloc = f"[{address}]" if ":" in address else address
    host_header = f"[{hostname}]" if ":" in hostname else hostname
    if parts.port is not None:  # a port as the URL has it; the scheme's default stays implicit
        netloc, host_header = f"{netloc}:{port}", f"{host_header}:{port}"
    pinned_url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    request = requests.Request(
        method, pinned_url, data=body, headers={**headers, "Host": host_header}
    ).prepare()
    request.pinned_hostname = hostname
    return request
