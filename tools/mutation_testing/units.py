"""The units under mutation testing, the mutants known to be equivalent (with the reason),
and the changes issue 14 found surviving, which must stay killed."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Unit:
    """Files to mutate (path -> top-level names to mutate, or None for the whole module) and
    the tests that own them."""

    targets: dict[str, tuple[str, ...] | None]
    tests: tuple[str, ...]


UNITS = {
    "signing": Unit(
        targets={"exporters/signing.py": None},
        tests=("exporters/tests/test_signing_exact.py",),
    ),
    "transport": Unit(
        targets={"exporters/transport.py": None, "core/outbound.py": None},
        tests=(
            "exporters/tests/test_transport_exact.py",
            "exporters/tests/test_tls.py",
            "core/tests/test_outbound_addresses.py",
        ),
    ),
    "plate_keys": Unit(
        targets={
            "events/reads.py": (
                "OCR_CONFUSION_GROUPS",
                "_FOLD",
                "_FOLD_TABLE",
                "_NOT_PLATE",
                "plate_normalize",
                "plate_confusion_key",
            )
        },
        tests=("events/tests/test_plate_keys.py",),
    ),
    "device_auth": Unit(
        targets={
            "cameras/authentication.py": None,
            "cameras/selectors.py": ("_device_for_digest",),
        },
        tests=("cameras/tests/test_device_auth_exact.py",),
    ),
}

#: (file, enclosing definition, mutation as printed) -> why no test can tell it apart.
EQUIVALENT = {
    ("exporters/signing.py", "signature_verify", "1 -> 2 #3"): (
        "the maxsplit of our own header's split on 'v1=': it holds 'v1=' once"
    ),
    ("exporters/signing.py", "signature_verify", "'' -> 'X'"): (
        "the stand-in for a missing v1: '' and 'X' both differ from a 64-digit MAC"
    ),
    (
        "core/outbound.py",
        "destination_resolve",
        "socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM) -> "
        "socket.getaddrinfo(parts.hostname, port)",
    ): "the same addresses, once per socket type; the first allowed one is the same",
    ("core/outbound.py", "destination_resolve", "1 -> 2"): (
        "the maxsplit on '%': an address holds one zone separator at most"
    ),
    (
        "core/outbound.py",
        "PinnedAddressAdapter",
        "hostname and host_params['scheme'] == 'https' -> "
        "hostname or host_params['scheme'] == 'https'",
    ): "a server name on a plain-HTTP pool is never used",
    ("exporters/transport.py", "_session_pid", "_session_pid: int | None = None -> pass"): (
        "read only after `_session is None` was false, i.e. after session() set it"
    ),
    **{
        ("core/outbound.py", "pinned_session", change): (
            "how many connections the pool keeps for reuse (or urllib3's default of 0 "
            "retries, which is ours): every request is still sent once"
        )
        for change in (
            "PinnedAddressAdapter(pool_connections=pool_size, pool_maxsize=pool_size, "
            "max_retries=0) -> PinnedAddressAdapter(pool_maxsize=pool_size, max_retries=0)",
            "PinnedAddressAdapter(pool_connections=pool_size, pool_maxsize=pool_size, "
            "max_retries=0) -> PinnedAddressAdapter(pool_connections=pool_size, max_retries=0)",
            "PinnedAddressAdapter(pool_connections=pool_size, pool_maxsize=pool_size, "
            "max_retries=0) -> PinnedAddressAdapter(pool_connections=pool_size, "
            "pool_maxsize=pool_size)",
            "1 -> 2",
        )
    },
    **{
        ("exporters/transport.py", "session", change): (
            "how many connections the pool keeps for reuse: every request is still sent once"
        )
        for change in ("32 -> 33",)
    },
    **{
        ("core/outbound.py", "pinned_session", change): (
            "plain HTTP then goes through requests' own adapter, which also never retries; "
            "the pinning adapter differs only for TLS"
        )
        for change in ("created.mount('http://', adapter) -> pass", "'http://' -> ''")
    },
    ("core/outbound.py", "pinned_request", "'' -> 'X'"): (
        "a fragment on the pinned URL: requests never sends the fragment"
    ),
    ("core/outbound.py", "pinned_request", "'/' -> ''"): (
        "an empty path: requests sends '/' for it"
    ),
    **{
        ("exporters/transport.py", "_read_capped", change): (
            "the size of each read, or one more read of at most 8 KiB before stopping: "
            "the excerpt is the same and the reading still stops"
        )
        for change in (
            "response.iter_content(chunk_size=8192) -> response.iter_content()",
            "8192 -> 8193",
            "len(received) >= cap -> len(received) > cap",
        )
    },
    ("exporters/transport.py", "request_send", "1000 -> 1001"): (
        "a 0.1% error in a measured duration, below the clock's own jitter"
    ),
    ("cameras/authentication.py", "device_key_from_request", "'' -> 'X'"): (
        "the default of path_key: every caller passes it"
    ),
    ("cameras/authentication.py", "DeviceKeyAuthentication", "'' -> 'X' #2"): (
        "the branch for a request without parser_context: DRF's Request always has one"
    ),
}


#: The changes issue 14 found the tests accepting, written out by hand: each must be killed
#: too. (file, text, replacement, what it breaks); a text no longer in the file is reported.
ISSUE_CHANGES = {
    "signing": [
        ("exporters/signing.py", 'f"{t}.".encode() + body', "body", "timestamp not signed"),
        ("exporters/signing.py", "hashlib.sha256", "hashlib.sha1", "SHA-1"),
        ("exporters/signing.py", ".hexdigest()", ".hexdigest()[:16]", "a 64-bit MAC"),
        ("exporters/signing.py", "if abs(time.time() - t) > tolerance:", "if False:", "no window"),
        (
            "exporters/signing.py",
            "hmac.compare_digest(expected.encode(), ",
            "expected.encode().startswith(",
            "an empty or truncated v1= verified",
        ),
    ],
    "transport": [
        (
            "exporters/transport.py",
            "timeout=(min(CONNECT_TIMEOUT, timeout), timeout),",
            "timeout=None,",
            "no timeout",
        ),
        (
            "exporters/transport.py",
            "except ResolveFailed as error:\n        return SendResult(None, elapsed(), "
            "str(error), retryable=True)",
            "except ResolveFailed as error:\n        return SendResult(None, elapsed(), "
            "str(error), retryable=False)",
            "a DNS failure permanent",
        ),
        (
            "exporters/transport.py",
            "if len(received) >= cap:",
            "if False:",
            "no cap on the response body",
        ),
        (
            "core/outbound.py",
            '(443 if parts.scheme == "https" else 80)',
            "80",
            "https:// sent to port 80",
        ),
        (
            "core/outbound.py",
            'netloc = f"[{address}]" if ":" in address else address',
            "netloc = address",
            "an IPv6 URL without brackets",
        ),
        (
            "core/outbound.py",
            "return address.ipv4_mapped\n",
            "return None\n",
            "an IPv4-mapped address judged as IPv6",
        ),
    ],
    "plate_keys": [
        ("events/reads.py", '"8B", "6G")', '"8B")', "6/G not folded"),
        ("events/reads.py", '("0ODQ",', '("0OD",', "Q/0 not folded"),
        ("events/reads.py", '"1IL",', '"1I",', "L/1 not folded"),
        ("events/reads.py", 'compile("[^A-Z0-9]+")', 'compile(r"\\W+")', "non-ASCII kept"),
        (
            "events/reads.py",
            "upper.isascii() and upper.isalnum()",
            "upper.isalnum()",
            "non-ASCII kept",
        ),
    ],
    "device_auth": [
        (
            "cameras/authentication.py",
            "        if not key:\n            return None\n        device = device_for_key",
            "        device = device_for_key",
            "no key answered as a wrong key",
        ),
    ],
}
