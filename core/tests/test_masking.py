"""The masks answers show for write-only values, and what a mask sent back becomes."""

import pytest

from core.masking import (
    MASK,
    headers_masked,
    headers_unmasked,
    url_destination,
    url_masked,
    url_unmasked,
)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.example.com/path?token=abc", f"https://hooks.example.com/path?{MASK}"),
        ("https://u:p@hooks.example.com:8443/in", f"https://{MASK}@hooks.example.com:8443/in"),
        ("https://hooks.example.com/path", "https://hooks.example.com/path"),
        ("", ""),
    ],
)
def test_userinfo_and_query_are_masked(url, shown):
    assert url_masked(url) == shown


def test_the_stored_userinfo_and_query_come_back_only_for_the_same_destination():
    stored = "rtsp://u:p@cam.local/s?token=abc"
    assert url_unmasked(url=url_masked(stored), stored=stored, keep=True) == stored
    assert url_unmasked(url=url_masked(stored), stored=stored, keep=False) == "rtsp://cam.local/s"
    encoded = "rtsp://%E2%80%A2%E2%80%A2%E2%80%A2%E2%80%A2@cam.local/s?%E2%80%A2%E2%80%A2%E2%80%A2%E2%80%A2"
    assert url_unmasked(url=encoded, stored=stored, keep=True) == stored


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("https://h.example/a", "https://h.example:443/b?x", True),
        ("http://h.example/", "http://H.EXAMPLE:80/", True),
        ("https://h.example/", "http://h.example/", False),
        ("https://h.example/", "https://h.example:8443/", False),
        ("https://h.example/", "https://other.example/", False),
    ],
)
def test_a_destination_is_scheme_host_and_port(one, other, same):
    assert (url_destination(one) == url_destination(other)) is same


def test_header_values_are_masked_and_kept_by_name():
    stored = {"X-Api-Key": "k", "X-Empty": ""}
    assert headers_masked(stored) == {"X-Api-Key": MASK, "X-Empty": ""}
    sent = {"X-Api-Key": MASK, "X-Other": MASK}
    assert headers_unmasked(headers=sent, stored=stored, keep=True) == {
        "X-Api-Key": "k",
        "X-Other": "",
    }
    assert headers_unmasked(headers=["not", "an", "object"], stored=stored, keep=True) == [
        "not",
        "an",
        "object",
    ]
