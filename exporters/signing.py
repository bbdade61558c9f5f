"""The X-ANPR-Signature header: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.

The timestamp inside the signed text lets a receiver refuse replays of old requests; the
receiver recomputes the HMAC with the shared secret and compares in constant time.
"""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-ANPR-Signature"


def signature_header(*, secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def signature_verify(*, secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
    """What a receiver does (used by our tests): check the HMAC and that `t` is recent."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        t = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - t) > tolerance:
        return False
    expected = signature_header(secret=secret, body=body, timestamp=t).split("v1=", 1)[1]
    # Bytes: compare_digest refuses str with non-ASCII characters by raising.
    return hmac.compare_digest(expected.encode(), fields.get("v1", "").encode())
