"""X-ANPR-Signature against values computed here from the documented format (HMAC-SHA256 of
"<t>.<body>", hex), not through our own signer, and the refusals a receiver must make: stale,
future, replayed with another time, empty, truncated or malformed signatures."""

import hashlib
import hmac
import time

import pytest

from exporters.signing import SIGNATURE_HEADER, signature_header, signature_verify

SECRET = "s3cret-signing-key"
BODY = b'{"delivery_id":"d-1","events":[{"plate":"AB12CDE"}]}'
NOW = 1_700_000_000


def documented_mac(t: int, body: bytes = BODY, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), str(t).encode() + b"." + body, hashlib.sha256).hexdigest()


@pytest.fixture
def frozen_clock(monkeypatch):
    """The receiver's clock at NOW (the signer's own clock is not involved)."""
    monkeypatch.setattr(time, "time", lambda: float(NOW))


def test_the_header_name_and_value_follow_the_documented_format():
    assert SIGNATURE_HEADER == "X-ANPR-Signature"
    assert signature_header(secret=SECRET, body=BODY, timestamp=NOW) == (
        f"t={NOW},v1={documented_mac(NOW)}"
    )
    # A fixed vector (from `openssl dgst -sha256 -hmac k`), so the helper cannot drift.
    assert documented_mac(NOW, b"{}", "k") == (
        "c6ef4734033cee2367414a0939385eca0397754aa7a59716da7463a9298b5146"  # openssl dgst
    )


def test_without_a_timestamp_the_current_time_is_signed(frozen_clock):
    assert signature_header(secret=SECRET, body=BODY) == f"t={NOW},v1={documented_mac(NOW)}"


def test_the_timestamp_is_covered_by_the_mac():
    one = signature_header(secret=SECRET, body=BODY, timestamp=NOW)
    other = signature_header(secret=SECRET, body=BODY, timestamp=NOW + 1)
    assert one.split("v1=")[1] != other.split("v1=")[1]


def test_a_signature_made_by_the_documented_recipe_verifies(frozen_clock):
    header = f"t={NOW},v1={documented_mac(NOW)}"
    assert signature_verify(secret=SECRET, body=BODY, header=header)
    # The order of the fields and unknown fields (a future v2) do not matter.
    assert signature_verify(
        secret=SECRET, body=BODY, header=f"v2=abc,v1={documented_mac(NOW)},t={NOW}"
    )


@pytest.mark.parametrize(
    ("age", "tolerance", "accepted"),
    [
        (300, 300, True),  # the window is inclusive
        (301, 300, False),  # stale: a replay of an old request
        (-300, 300, True),
        (-301, 300, False),  # from the future
        (3600, 300, False),
        (30, 10, False),  # the tolerance passed in is the one used
        (10, 10, True),
    ],
)
def test_the_timestamp_must_be_within_the_tolerance(frozen_clock, age, tolerance, accepted):
    t = NOW - age
    header = f"t={t},v1={documented_mac(t)}"
    assert (
        signature_verify(secret=SECRET, body=BODY, header=header, tolerance=tolerance) is accepted
    )


@pytest.mark.parametrize(("age", "accepted"), [(300, True), (301, False), (-301, False)])
def test_the_default_tolerance_is_five_minutes(frozen_clock, age, accepted):
    t = NOW - age
    header = f"t={t},v1={documented_mac(t)}"
    assert signature_verify(secret=SECRET, body=BODY, header=header) is accepted


def test_a_replay_with_a_fresh_timestamp_is_refused(frozen_clock):
    old = NOW - 3600
    assert not signature_verify(
        secret=SECRET, body=BODY, header=f"t={NOW},v1={documented_mac(old)}"
    )


@pytest.mark.parametrize(
    "header",
    [
        f"t={NOW},v1=",  # empty
        f"t={NOW}",  # missing
        f"t={NOW},v1={documented_mac(NOW)[:16]}",  # truncated to 64 bits
        f"t={NOW},v1={documented_mac(NOW)[:-1]}",
        f"t={NOW},v1={documented_mac(NOW).upper()}",
        f"t={NOW},v1={hmac.new(SECRET.encode(), f'{NOW}.'.encode() + BODY, 'sha1').hexdigest()}",
        f"t={NOW},v1={hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()}",  # no t
        f"t={NOW},v1={documented_mac(NOW, secret='another-key')}",
        f"t={NOW},v1={documented_mac(NOW, body=BODY + b' ')}",
        f"v1={documented_mac(NOW)}",  # no timestamp
        f"t=,v1={documented_mac(NOW)}",
        f"t=soon,v1={documented_mac(NOW)}",
        f"t={NOW},v1={documented_mac(NOW)}=",  # an extra '=' inside a field
        f"t={NOW}=1,v1={documented_mac(NOW)}",
        "garbage",
        "",
        f"t={NOW},v1=é" + "0" * 63,  # not ASCII: compare_digest on str would raise
    ],
)
def test_a_bad_signature_is_refused_without_an_error(frozen_clock, header):
    assert signature_verify(secret=SECRET, body=BODY, header=header) is False


def test_the_mac_is_a_full_sha256(frozen_clock):
    mac = signature_header(secret=SECRET, body=BODY).split("v1=", 1)[1]
    assert len(mac) == 64 and mac == mac.lower() and int(mac, 16) >= 0
