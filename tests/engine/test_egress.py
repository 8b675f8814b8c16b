"""The outbound-destination guard: the classifier, registration checks, and the connect-time check."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import httpcore
import httpx
import pytest

from callplane.domain.errors import ValidationFailed
from callplane.engine import egress
from tests.fakes.openai_server import FakeLLM
from tests.fakes.server import serve_in_thread

FORBIDDEN = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "169.254.0.1",
    "100.64.0.1",  # CGNAT / shared
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",  # multicast (Python calls it global)
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "198.18.0.1",
    "192.0.2.1",  # documentation
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",  # AWS metadata over IPv6
    "ff02::1",
    "ff0e::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:8.8.8.8",  # IPv4-mapped of anything: no customer writes that
    "::127.0.0.1",  # IPv4-compatible
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b:1::1",  # local-use NAT64
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2001::1",  # Teredo
    "2001:db8::1",  # documentation
]
ALLOWED = ["8.8.8.8", "1.1.1.1", "93.184.215.14", "2606:4700:4700::1111", "64:ff9b::808:808"]


@pytest.mark.parametrize("text", FORBIDDEN)
def test_internal_addresses_are_forbidden(text: str) -> None:
    assert egress.is_forbidden(ipaddress.ip_address(text))


@pytest.mark.parametrize("text", ALLOWED)
def test_public_addresses_are_allowed(text: str) -> None:
    assert not egress.is_forbidden(ipaddress.ip_address(text))


ODD_SPELLINGS = [
    "http://127.1/hook",
    "http://2130706433/hook",
    "http://0x7f.1/hook",
    "http://0x7f000001/hook",
    "http://017700000001/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:7f00:1]/hook",
    "http://[0:0:0:0:0:ffff:127.0.0.1]/hook",
    "http://[fe80::1%25eth0]/hook",
    "http://127.0.0.1./hook",
    "http://localhost/hook",
    "http://LOCALHOST./hook",
    "http://api.localhost/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://user:pw@10.1.2.3:8080/x",
    "https://[::1]:443/x",
    "http://0/",
]


@pytest.mark.parametrize("url", ODD_SPELLINGS)
def test_registration_refuses_internal_hosts_in_any_spelling(url: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        egress.vet_url(url, "url", allow_private=False)
    assert refused.value.errors[0].field == "url"
    assert "destination not allowed" in refused.value.errors[0].reason
    assert egress.vet_url(url, "url", allow_private=True)  # the development setting lets them in


def test_spellings_httpx_cannot_read_are_refused_too() -> None:
    with pytest.raises(ValidationFailed):
        egress.vet_url("http://0177.0.0.1/hook", "url", allow_private=False)  # octal dotted quad


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://x/", "http://"])
def test_registration_refuses_other_schemes_even_when_private_is_allowed(url: str) -> None:
    for allow in (False, True):
        with pytest.raises(ValidationFailed):
            egress.vet_url(url, "url", allow_private=allow)


def test_names_that_do_not_resolve_yet_are_accepted_and_public_literals_too() -> None:
    assert egress.vet_url("https://crm.example.com/hooks", "url", allow_private=False)
    assert egress.vet_url("http://8.8.8.8/x", "url", allow_private=False) == "http://8.8.8.8/x"
    # A name that resolves inside (/etc/hosts maps localhost; `localhost` is refused by name
    # too, so check the resolution path with the literal answer it would get).
    assert egress.refused_host("crm.example.com", ["8.8.8.8", "10.0.0.5"])  # any internal answer
    assert not egress.refused_host("crm.example.com", ["8.8.8.8"])


def _fake_dns(answers: dict[str, list[str]]) -> egress.Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise OSError("no such name")
        return answers[host]

    return resolve


def test_connect_time_check_uses_the_address_it_vetted() -> None:
    """A name that resolves inside at connect time (DNS rebinding) gets no request at all."""
    fake = FakeLLM(lambda messages, tools: {"content": "secret"})

    async def go(url: str) -> tuple[str, str]:
        port = httpx.URL(url).port
        rebinding = _fake_dns({"crm.example.com": ["127.0.0.1"]})
        async with egress.guarded_client(allow_private=False, resolve=rebinding) as client:
            with pytest.raises(egress.DestinationRefused) as refused:
                await client.post(f"http://crm.example.com:{port}/v1/chat/completions", json={})
            with pytest.raises(egress.DestinationRefused) as unresolvable:
                await client.post(f"http://nowhere.example.com:{port}/", json={})
            with pytest.raises(egress.DestinationRefused):
                await client.post(f"http://127.1:{port}/v1/chat/completions", json={})
        return str(refused.value), str(unresolvable.value)

    with serve_in_thread(fake.app) as url:
        refused, unresolvable = asyncio.run(go(url))
    assert (refused, unresolvable) == ("destination not allowed", "cannot resolve")
    assert fake.requests == []  # nothing reached the loopback server


class _Recording(httpcore.AsyncNetworkBackend):
    """Stands in for the socket layer: records where the guard connects, connects nowhere."""

    def __init__(self) -> None:
        self.hosts: list[str] = []

    async def connect_tcp(
        self, host: str, port: int, *args: Any, **kwargs: Any
    ) -> httpcore.AsyncNetworkStream:
        self.hosts.append(host)
        raise httpcore.ConnectError("recorded")


def test_connect_time_check_connects_to_the_vetted_address() -> None:
    sockets = _Recording()
    dns = _fake_dns({"crm.example.com": ["93.184.215.14", "2606:4700:4700::1111"]})
    backend = egress.GuardedBackend(dns, inner=sockets)
    with pytest.raises(httpcore.ConnectError):
        asyncio.run(backend.connect_tcp("crm.example.com", 443))
    assert sockets.hosts == ["93.184.215.14", "2606:4700:4700::1111"]  # each vetted address, no name
    dns = _fake_dns({"crm.example.com": ["93.184.215.14", "10.0.0.7"]})
    mixed = egress.GuardedBackend(dns, inner=sockets)
    with pytest.raises(egress.DestinationRefused, match=r"^destination not allowed$"):
        asyncio.run(mixed.connect_tcp("crm.example.com", 443))
    assert len(sockets.hosts) == 2  # one internal answer refuses the name outright
