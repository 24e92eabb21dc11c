"""Guarded outbound HTTP fetches of attacker-chosen URLs (client metadata documents; later JWKS, federation).

Threat model: whoever names the URL is untrusted (a client_id in an authorization request is enough).
They will try to make us

- reach internal services: loopback, RFC 1918 private ranges, link-local (the cloud metadata services at
  169.254.169.254 and fd00:ec2::254), CGNAT 100.64.0.0/10, unique-local fc00::/7, multicast, reserved and
  unspecified addresses, and the same targets hidden inside IPv6 (IPv4-mapped, 6to4, NAT64). Every resolved
  address is checked, and one bad address refuses the whole answer: a mixed answer is a rebinding probe.
- rebind DNS between our check and our connect. We resolve once and connect to the checked address ("pin"),
  sending the original ``Host`` header and verifying TLS (SNI and certificate) against the original hostname,
  so a pinned connection is exactly as authenticated as an unpinned one.
- tie up a worker or its memory (slowloris, endless or huge bodies, decompression bombs). One total deadline
  covers resolution, connect, headers and body; the body is streamed and abandoned past ``max_bytes``; we ask
  for ``identity`` encoding and refuse compressed bodies, whose decoded size no byte cap on the wire bounds.
- bounce us elsewhere with a redirect. Redirects to another origin (scheme, host, port) are refused; at most
  two same-origin redirects are followed, each re-resolved and re-checked as if it were the first request.

Plain http is refused, except in ``--dev`` (``allow_loopback=True``) when every resolved address is loopback.
No proxy or ``.netrc`` from the environment is used, and each fetch gets a fresh connection pool: a pooled
connection verified for one hostname must never carry a request for another hostname pinned to the same IP.
Response bodies are never logged.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, Protocol

import httpx
import structlog

from drawbridge.errors import DrawbridgeError

log = structlog.get_logger(__name__)

MAX_REDIRECTS = 2

SsrfReason = Literal[
    "invalid_url",
    "scheme_not_allowed",
    "resolution_failed",
    "blocked_address",
    "connect_failed",
    "timeout",
    "redirect_not_allowed",
    "http_error",
    "too_large",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Belt and braces over ``is_global``, whose ranges changed between Python releases (3.11 calls fec0::/10 and
# multicast global). Every range here is one no public document can legitimately live in.
_BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host on Linux
        "10.0.0.0/8",
        "100.64.0.0/10",  # RFC 6598 CGNAT, often internal in clouds
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, incl. the cloud metadata service
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. broadcast
        "::/96",  # unspecified, loopback and deprecated IPv4-compatible addresses
        "64:ff9b:1::/48",  # RFC 8215 local-use NAT64
        "100::/64",  # discard-only
        "2001::/32",  # Teredo: the client address is attacker-chosen
        "2001:db8::/32",
        "fc00::/7",  # unique-local, incl. the EC2 metadata service fd00:ec2::254
        "fe80::/10",
        "fec0::/10",  # deprecated site-local
        "ff00::/8",  # multicast
    )
)
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")


class SsrfError(DrawbridgeError):
    """An outbound fetch was refused or failed; ``reason`` is a short machine code (see :data:`SsrfReason`)."""

    def __init__(self, reason: SsrfReason, message: str) -> None:
        super().__init__(message)
        self.reason: SsrfReason = reason


class Resolver(Protocol):
    """Turns a hostname into the IP addresses to check and connect to (the seam tests fake)."""

    async def resolve(self, host: str, port: int) -> list[str]:
        """Return every address ``host`` resolves to, as strings; raise :class:`SsrfError` when it cannot."""
        ...


class SystemResolver:
    """The operating system's resolver (``getaddrinfo``), without blocking the event loop."""

    async def resolve(self, host: str, port: int) -> list[str]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
            raise SsrfError("resolution_failed", f"cannot resolve {host!r}") from exc
        return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_blocked_address(ip: str, *, allow_loopback: bool) -> bool:
    """Whether an outbound connection to ``ip`` must be refused.

    Anything that is not a public unicast address is blocked; IPv6 forms that embed an IPv4 address
    (IPv4-mapped, 6to4, NAT64) are judged by the address they embed. Unparseable input is blocked.

    Args:
        ip: an IPv4 or IPv6 address string, as a resolver returns it.
        allow_loopback: ``--dev`` only: let loopback through (every other internal range stays blocked).
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return True
    if allow_loopback and _is_loopback(address):
        return False
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return is_blocked_address(str(embedded), allow_loopback=allow_loopback)
    if not address.is_global or address.is_multicast:
        return True
    return any(address in network for network in _BLOCKED_NETWORKS)


def _is_loopback(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(address.packed[12:])
    return None


@dataclass(frozen=True)
class FetchedDocument:
    """A successful (2xx) response: the final URL after same-origin redirects, lowercased headers, the body."""

    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes


class GuardedFetcher:
    """Fetches attacker-chosen URLs without letting them reach internal services (see the module docstring).

    Args:
        resolver: where addresses come from; :class:`SystemResolver` in production.
        timeout: total seconds for one fetch, redirects included.
        max_bytes: largest body accepted.
        allow_loopback: ``--dev`` only: loopback addresses, and plain http to them, are allowed.
        ca_bundle: PEM file of CAs to trust instead of the system store (a private PKI).
        transport: an httpx transport to send through (tests pass a ``MockTransport``); by default a fresh
            certificate-verifying transport per fetch.
    """

    def __init__(
        self,
        *,
        resolver: Resolver,
        timeout: float,
        max_bytes: int,
        allow_loopback: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        ca_bundle: str | None = None,
    ) -> None:
        self._resolver = resolver
        # Certificates are always verified: against the system store, or against an operator's private CA bundle.
        self._verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._allow_loopback = allow_loopback
        self._transport = transport

    async def fetch(self, url: str) -> FetchedDocument:
        """GET ``url`` as JSON, following at most two same-origin redirects.

        Raises:
            SsrfError: the URL, an address, a redirect, the status, the size or the time is refused.
        """
        target = _parse(url)
        transport = self._transport or httpx.AsyncHTTPTransport(verify=self._verify, trust_env=False)
        client = httpx.AsyncClient(transport=transport, trust_env=False, follow_redirects=False, timeout=self._timeout)
        try:
            async with asyncio.timeout(self._timeout):
                return await self._follow(client, target)
        except TimeoutError as exc:
            log.warning("outbound_fetch_refused", host=target.host, reason="timeout")
            raise SsrfError("timeout", f"fetching from {target.host} took longer than {self._timeout}s") from exc
        finally:
            if self._transport is None:
                await client.aclose()

    async def _follow(self, client: httpx.AsyncClient, url: httpx.URL) -> FetchedDocument:
        for _ in range(MAX_REDIRECTS + 1):
            outcome = await self._fetch_once(client, url)
            if isinstance(outcome, FetchedDocument):
                return outcome
            url = outcome
        raise SsrfError("redirect_not_allowed", f"more than {MAX_REDIRECTS} redirects from {url.host}")

    async def _fetch_once(self, client: httpx.AsyncClient, url: httpx.URL) -> FetchedDocument | httpx.URL:
        """One hop: a checked, pinned GET; the redirect target when the answer is a redirect."""
        addresses = await self._checked_addresses(url)
        with _translate_httpx_errors(url):
            response = await _send_pinned(client, url, addresses)
            try:
                if response.has_redirect_location:
                    return _same_origin_redirect(url, response.headers["location"])
                _check_response(url, response)
                body = await _read_capped(response, self._max_bytes)
            finally:
                await response.aclose()
        log.info("outbound_fetch", host=url.host, status=response.status_code, size=len(body))
        return FetchedDocument(url=str(url), status=response.status_code, headers=dict(response.headers), body=body)

    async def _checked_addresses(self, url: httpx.URL) -> list[str]:
        if url.scheme not in ("https", "http") or (url.scheme == "http" and not self._allow_loopback):
            raise SsrfError("scheme_not_allowed", f"{url.scheme} URLs are not fetched (https only)")
        addresses = await self._resolver.resolve(_hostname(url), _port(url))
        if not addresses:
            raise SsrfError("resolution_failed", f"{url.host!r} resolves to no address")
        blocked = [ip for ip in addresses if is_blocked_address(ip, allow_loopback=self._allow_loopback)]
        if blocked:
            log.warning("outbound_fetch_refused", host=url.host, reason="blocked_address", addresses=blocked)
            raise SsrfError("blocked_address", f"{url.host!r} resolves to a non-public address")
        if url.scheme == "http" and not all(_is_loopback(ipaddress.ip_address(ip)) for ip in addresses):
            raise SsrfError("scheme_not_allowed", "plain http is allowed only to loopback, in --dev")
        return addresses


def _parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise SsrfError("invalid_url", "not a valid URL") from exc
    if not parsed.host:
        raise SsrfError("invalid_url", "the URL has no host")
    if parsed.userinfo:
        raise SsrfError("invalid_url", "credentials in URLs are not sent")
    return parsed.copy_with(fragment=None)


def _hostname(url: httpx.URL) -> str:
    """The ASCII (IDNA) host, without IPv6 brackets: what DNS, SNI and certificate checks see."""
    return url.raw_host.decode("ascii")


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


async def _send_pinned(client: httpx.AsyncClient, url: httpx.URL, addresses: list[str]) -> httpx.Response:
    """Connect to the first checked address that accepts, never to a fresh DNS answer."""
    headers = {"Host": url.netloc.decode("ascii"), "Accept": "application/json", "Accept-Encoding": "identity"}
    refused: httpx.ConnectError | None = None
    for ip in addresses:
        pinned = url.copy_with(host=ip, port=_port(url))
        request = client.build_request("GET", pinned, headers=headers, extensions={"sni_hostname": _hostname(url)})
        try:
            return await client.send(request, stream=True)
        except httpx.ConnectError as exc:
            refused = exc
    raise SsrfError("connect_failed", f"no address of {url.host!r} accepted a connection") from refused


@contextmanager
def _translate_httpx_errors(url: httpx.URL) -> Iterator[None]:
    """Turn httpx's exceptions into ours at the boundary (httpx's own ``map_httpcore_exceptions`` pattern)."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise SsrfError("timeout", f"timed out talking to {url.host!r}") from exc
    except httpx.HTTPError as exc:
        raise SsrfError("http_error", f"HTTP failure talking to {url.host!r}: {type(exc).__name__}") from exc


def _same_origin_redirect(url: httpx.URL, location: str) -> httpx.URL:
    try:
        target = url.join(location)
    except httpx.InvalidURL as exc:
        raise SsrfError("redirect_not_allowed", "the redirect target is not a valid URL") from exc
    if (target.scheme, _hostname(target), _port(target)) != (url.scheme, _hostname(url), _port(url)):
        log.warning("outbound_fetch_refused", host=url.host, reason="redirect_not_allowed", target=target.host)
        raise SsrfError("redirect_not_allowed", f"{url.host!r} redirects to another origin")
    return _parse(str(target))


def _check_response(url: httpx.URL, response: httpx.Response) -> None:
    if not response.is_success:
        raise SsrfError("http_error", f"{url.host!r} answered HTTP {response.status_code}")
    if response.headers.get("content-encoding", "identity").lower() != "identity":
        raise SsrfError("http_error", f"{url.host!r} sent a compressed body, which we do not decode")


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise SsrfError("too_large", f"the body is {declared} bytes; at most {max_bytes} are accepted")
    body = bytearray()
    async for chunk in response.aiter_bytes():  # identity-only (checked above): these are the wire bytes
        body += chunk
        if len(body) > max_bytes:
            raise SsrfError("too_large", f"the body exceeds {max_bytes} bytes")
    return bytes(body)
