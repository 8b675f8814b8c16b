"""The outbound-destination guard: callplane never connects to an internal address for a tenant.

Every connection callplane opens to a *customer-supplied* address — an agent's HTTP tools, an
LLM agent's `llm.base_url`, an agent's speech endpoint (`voice.base_url`), webhook endpoints and
agent versions' `webhook_url`, and the carriers to come — goes through this module, twice:

- **at registration** (`vet_url`): the URL must be http(s) with a host that is not internal. A
  literal address (in any spelling a resolver accepts: `127.1`, `2130706433`, `0x7f.1`,
  `[::ffff:127.0.0.1]`, …), `localhost` and `*.localhost` are refused outright; a name is
  resolved and refused when *any* of its addresses is internal. A name that does not resolve
  yet is accepted — it is checked again on every connection. The refusal is a
  `ValidationFailed` naming the field, so each API answers a 400 in its own shape.
- **at connect time** (`guarded_client`): an httpx client whose network backend resolves the
  host itself, refuses the connection when any address is internal, and connects to the vetted
  address (TLS SNI and `Host` stay the original name). There is no second lookup between the
  check and the connection, so a DNS answer that changes after registration (DNS rebinding)
  cannot slip through. Errors say only "destination not allowed" or "cannot resolve": what an
  internal name resolves to is never shown to the tenant (tool results, transcripts, the
  webhook delivery log).

"Internal" (`is_forbidden`) is: loopback, private (RFC 1918, ULA), link-local (cloud metadata at
169.254.169.254 / fd00:ec2::254 included), CGNAT/shared (100.64/10), multicast, reserved,
unspecified, every address Python does not call globally routable, IPv4-mapped and
IPv4-compatible IPv6 of any address, and NAT64 / 6to4 forms of internal IPv4 addresses.

`CALLPLANE_ALLOW_PRIVATE_DESTINATIONS` (development, local receivers and fakes) turns the
address checks off in both places; the scheme check stays.

Not guarded, on purpose: the operator's own configuration — `CALLPLANE_LLM_BASE_URL` (the default
endpoint for LLM agents without a `base_url`, and the analyser), the operator's speech engines
(`CALLPLANE_SPEECH_BASE_URL`, `CALLPLANE_SPEECH_STREAMING_URL`) and, later, carrier. The
operator may run those on a private network; only what a tenant can name is a tenant's way in.
The clients built here ignore `HTTP(S)_PROXY` environment variables, since an egress proxy
would hide the address actually connected to from the guard.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

from callplane.domain.agent import AgentDefinition, AgentKind
from callplane.domain.errors import ValidationFailed
from callplane.domain.flow import parse_flow
from callplane.domain.llm import parse_llm
from callplane.domain.voice import parse_voice

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
#: host, port → the addresses it resolves to (raises OSError when it does not resolve).
Resolver = Callable[[str, int], Awaitable[list[str]]]

NOT_ALLOWED = "destination not allowed"
UNRESOLVABLE = "cannot resolve"

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215: local-use translation
_METADATA = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "metadata.google.internal")


class DestinationRefused(httpx.ConnectError):
    """The connection was not made: the destination is internal (or does not resolve)."""


def is_forbidden(address: Address) -> bool:
    """True when `address` is not a public internet address a tenant may have us connect to."""
    if address in _METADATA:
        return True
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None or _ipv4_compatible(address):
            return True
        if address in _NAT64:
            return is_forbidden(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address in _NAT64_LOCAL:
            return True
        if address.sixtofour is not None and is_forbidden(address.sixtofour):
            return True
        if address.teredo is not None:
            return True
    return (
        not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _ipv4_compatible(address: ipaddress.IPv6Address) -> bool:
    # ::a.b.c.d (deprecated by RFC 4291); `::` and `::1` are caught as unspecified/loopback.
    return int(address) >> 32 == 0 and int(address) > 1


def literal_address(host: str) -> Address | None:
    """The address a host names literally, in any spelling a resolver accepts, or None for a name."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone: the address decides
    except ValueError:
        pass
    # inet_aton reads what getaddrinfo reads: 127.1, 2130706433, 0x7f.1, 017700000001 …
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))
        except OSError:
            return None
    return None


def _local_name(host: str) -> bool:
    name = host.rstrip(".").lower()
    return any(name == n or name.endswith("." + n) for n in _LOCAL_NAMES)


def refused_host(host: str, addresses: Iterable[str]) -> bool:
    """Whether a host (and what it resolved to, if anything) must not be connected to."""
    if not host or _local_name(host):
        return True
    if ":" in host.strip("[]") and literal_address(host) is None:
        return True  # a name never contains ":"; an IPv6 spelling we cannot read is refused
    literal = literal_address(host)
    if literal is not None:
        return is_forbidden(literal)
    for text in addresses:
        address = literal_address(text)
        if address is None or is_forbidden(address):
            return True
    return False


def vet_url(value: str, field: str, *, allow_private: bool) -> str:
    """Registration check of one customer-supplied URL; the normalised URL, or ValidationFailed.

    Resolves the host with the system resolver (blocking: call it from sync code, which FastAPI
    runs in its thread pool); a name that does not resolve is accepted and checked at connect time.
    """
    try:
        url = httpx.URL(value.strip())
    except (httpx.InvalidURL, TypeError):
        raise ValidationFailed.single(field, "is not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValidationFailed.single(field, "must be an http:// or https:// URL with a host")
    if allow_private:
        return str(url)
    addresses: list[str] = []
    if literal_address(url.host) is None and not _local_name(url.host):
        try:
            infos = socket.getaddrinfo(url.host, url.port or 443, type=socket.SOCK_STREAM)
            addresses = [str(info[4][0]) for info in infos]
        except (OSError, UnicodeError):
            addresses = []  # not resolvable now: checked again when connecting
    if refused_host(url.host, addresses):
        raise ValidationFailed.single(
            field, f"{NOT_ALLOWED}: loopback, private, link-local and other internal addresses are refused"
        )
    return str(url)


def vet_agent(definition: AgentDefinition, *, allow_private: bool) -> None:
    """Registration check of every URL an agent file names: tools, `llm.base_url`, `webhook_url`,
    the speech endpoint `<kind>.voice.base_url`."""
    urls: list[tuple[str, str]] = []
    webhook_url = definition.raw.get("webhook_url")  # parse_definition checked it is a string
    if webhook_url is not None:
        urls.append(("webhook_url", webhook_url))
    kind = definition.kind.value
    if definition.kind is AgentKind.LLM:
        llm = parse_llm(definition.config)
        tools = llm.tools
        if llm.base_url is not None:
            urls.append(("llm.base_url", llm.base_url))
    else:
        tools = parse_flow(definition.config).tools
    urls.extend((f"{kind}.tools.{name}.url", t.url) for name, t in tools.items() if t.url is not None)
    speech_url = parse_voice(definition.config).base_url
    if speech_url is not None:
        urls.append((f"{kind}.voice.base_url", speech_url))
    for field, url in urls:
        vet_url(url, field, allow_private=allow_private)


async def _system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, vets and connects to the vetted address; TLS above it still uses the name."""

    def __init__(
        self, resolve: Resolver = _system_resolver, inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self._inner = inner or httpcore.AnyIOBackend()
        self._resolve = resolve

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        literal = literal_address(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                # The lookup counts against the connect timeout, as httpcore's own would.
                resolved = await asyncio.wait_for(self._resolve(host, port), timeout)
                addresses = list(dict.fromkeys(resolved))
            except (OSError, UnicodeError, TimeoutError):
                raise DestinationRefused(UNRESOLVABLE) from None
        if not addresses:
            raise DestinationRefused(UNRESOLVABLE)
        if refused_host(host, addresses):
            raise DestinationRefused(NOT_ALLOWED)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise DestinationRefused(NOT_ALLOWED)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, resolve: Resolver) -> None:
        super().__init__(trust_env=False)
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's defaults
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(resolve),
        )


def guarded_client(
    *, allow_private: bool, resolve: Resolver = _system_resolver, **kwargs: Any
) -> httpx.AsyncClient:
    """An httpx client for customer-supplied URLs (no redirects: a redirect is a new destination)."""
    kwargs.setdefault("follow_redirects", False)
    if allow_private:
        return httpx.AsyncClient(trust_env=False, **kwargs)
    return httpx.AsyncClient(transport=_GuardedTransport(resolve), trust_env=False, **kwargs)
