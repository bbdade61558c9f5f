"""core.outbound's destination filter (exporters, watchlist sources) judges the IPv4 address
an IPv6 one carries (NAT64, 6to4, SIIT, IPv4-compatible, Teredo, mapped), and its refusals
tell users nothing of internal DNS."""

import ipaddress
import logging

import pytest

from core import outbound
from core.outbound import DestinationRefused

SETTING = "TEST_ALLOWED_NETWORKS"


def address_allowed(address):
    return outbound.address_allowed(address, allowed_setting=SETTING)


def destination_resolve(url):
    return outbound.destination_resolve(url, allowed_setting=SETTING)


#: (form, IPv6 address, the IPv4 address it carries)
WRAPPED = [
    ("NAT64", "64:ff9b::{}"),
    ("NAT64 local-use", "64:ff9b:1::{}"),
    ("SIIT", "::ffff:0:{}"),
    ("IPv4-compatible", "::{}"),
    ("IPv4-mapped", "::ffff:{}"),
]
INTERNAL = ["127.0.0.1", "10.0.0.5", "169.254.10.1", "192.168.1.10", "169.254.169.254"]


def _six_to_four(ipv4: str) -> str:
    packed = ipaddress.IPv4Address(ipv4).packed.hex()
    return f"2002:{packed[:4]}:{packed[4:]}::1"


def _teredo(ipv4: str) -> str:
    """A Teredo address (server 65.54.227.120) whose client is `ipv4`, stored inverted."""
    client = (~int(ipaddress.IPv4Address(ipv4))) & 0xFFFFFFFF
    return f"2001:0:4136:e378:8000:63bf:{client >> 16:x}:{client & 0xFFFF:x}"


def _all_forms(ipv4: str) -> list[str]:
    return [form.format(ipv4) for _, form in WRAPPED] + [_six_to_four(ipv4), _teredo(ipv4)]


def test_the_helpers_build_what_python_decodes():
    assert ipaddress.ip_address(_six_to_four("10.0.0.5")).sixtofour == ipaddress.ip_address(
        "10.0.0.5"
    )
    assert ipaddress.ip_address(_teredo("10.0.0.5")).teredo[1] == ipaddress.ip_address("10.0.0.5")


@pytest.mark.parametrize("address", [a for ipv4 in INTERNAL for a in _all_forms(ipv4)])
def test_internal_ipv4_addresses_wrapped_in_ipv6_are_refused(settings, address):
    settings.TEST_ALLOWED_NETWORKS = []
    assert not address_allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::a00:5",  # NAT64 of 10.0.0.5, written in hexadecimal
        "2002:a00:5::1",  # 6to4 of 10.0.0.5
        "2002:7f00:1:1::1",  # 6to4 of 127.0.0.1, another subnet
        "::ffff:0:a9fe:a9fe",  # SIIT of the metadata address
    ],
)
def test_fixed_wrapped_internal_addresses_are_refused(settings, address):
    settings.TEST_ALLOWED_NETWORKS = []
    assert not address_allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
        "::ffff:8.8.8.8",
        "::ffff:0:8.8.8.8",
        _teredo("8.8.8.8"),
    ],
)
def test_a_public_ipv4_address_wrapped_in_ipv6_passes(settings, address):
    settings.TEST_ALLOWED_NETWORKS = []
    assert address_allowed(ipaddress.ip_address(address))


def test_the_local_use_nat64_prefix_is_not_global_even_with_a_public_address(settings):
    settings.TEST_ALLOWED_NETWORKS = []
    assert not address_allowed(ipaddress.ip_address("64:ff9b:1::8.8.8.8"))


def test_an_allowed_network_also_allows_its_wrapped_forms(settings):
    settings.TEST_ALLOWED_NETWORKS = [ipaddress.ip_network("192.168.10.0/24")]
    for address in ("192.168.10.7", "::ffff:192.168.10.7", "64:ff9b::192.168.10.7"):
        assert address_allowed(ipaddress.ip_address(address)), address
    for address in ("::ffff:192.168.11.7", "64:ff9b::192.168.11.7", "::ffff:10.0.0.5"):
        assert not address_allowed(ipaddress.ip_address(address)), address


def test_metadata_stays_refused_in_every_form_even_under_an_allowed_network(settings):
    settings.TEST_ALLOWED_NETWORKS = [ipaddress.ip_network("169.254.0.0/16")]
    for address in _all_forms("169.254.169.254"):
        assert not address_allowed(ipaddress.ip_address(address)), address


def test_a_refusal_does_not_reveal_the_resolved_address_but_logs_it(settings, caplog):
    settings.TEST_ALLOWED_NETWORKS = []
    with caplog.at_level(logging.WARNING, logger="core.outbound"):
        with pytest.raises(DestinationRefused) as refused:
            destination_resolve("http://localhost:8080/hook")
    message = str(refused.value)
    assert "not allowed" in message and "TEST_ALLOWED_NETWORKS" in message
    assert "127.0.0.1" not in message and "::1" not in message
    assert "127.0.0.1" in caplog.text
