"""Which addresses a user-given URL may reach (``storage/remote.py``): public ones only. Python's ``is_global``
lets through forms that reach inside the network: IPv6 with an IPv4 address inside (IPv4-compatible, 6to4,
NAT64, Teredo, IPv4-mapped), multicast, and the old site-local range."""

from __future__ import annotations

import pytest

from wahub import errors
from wahub.storage import remote

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("10.1.2.3", "private"),
    ("169.254.169.254", "link-local (cloud metadata)"),
    ("100.64.0.1", "shared address space"),
    ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "IPv4 multicast"),
    ("239.255.255.250", "IPv4 multicast (SSDP)"),
    ("233.252.0.1", "IPv4 multicast (GLOP)"),
    ("255.255.255.255", "broadcast"),
    ("::1", "IPv6 loopback"),
    ("::", "IPv6 unspecified"),
    ("::127.0.0.1", "IPv4-compatible loopback"),
    ("::8.8.8.8", "IPv4-compatible, deprecated"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("::ffff:8.8.8.8", "IPv4-mapped"),
    ("::ffff:0:a00:1", "IPv4-translated (SIIT)"),
    ("2002:7f00:1::", "6to4 of 127.0.0.1"),
    ("2002:a01:203::1", "6to4 of 10.1.2.3"),
    ("2002:808:808::1", "6to4 of a public address"),
    ("64:ff9b::7f00:1", "NAT64 of 127.0.0.1"),
    ("64:ff9b::a9fe:a9fe", "NAT64 of 169.254.169.254"),
    ("64:ff9b:1::a00:1", "local-use NAT64"),
    ("2001::1", "Teredo"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo with a server and client"),
    ("ff02::1", "IPv6 multicast, link scope"),
    ("ff0e::1", "IPv6 multicast, global scope"),
    ("fe80::1", "IPv6 link-local"),
    ("fec0::1", "IPv6 site-local, deprecated"),
    ("fc00::1", "IPv6 unique local"),
    ("2001:db8::1", "documentation"),
]

PUBLIC = ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "2606:4700:4700::1111", "2a00:1450:4001:81c::200e"]


@pytest.mark.parametrize(("address", "kind"), REFUSED, ids=[a for a, _ in REFUSED])
def test_an_address_that_is_not_plainly_public_is_refused(address: str, kind: str) -> None:
    """``kind`` names the case in the table."""
    with pytest.raises(errors.InvalidInput, match="private, loopback or reserved"):
        remote._must_be_public("host.example", address)


@pytest.mark.parametrize("address", PUBLIC)
def test_a_public_address_is_allowed(address: str) -> None:
    remote._must_be_public("host.example", address)
