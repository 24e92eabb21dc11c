"""The SSRF guard: blocked addresses, pinning, schemes, redirects, size and time limits.

Network rule: hostnames here are only ever resolved by :class:`StaticResolver` (or are numeric literals, which
``getaddrinfo`` parses without a lookup), and requests only reach a ``MockTransport`` or a server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from drawbridge.ssrf import FetchedDocument, GuardedFetcher, SsrfError, SystemResolver, is_blocked_address

PUBLIC_IP = "93.184.216.34"
PUBLIC_IPV6 = "2606:2800:220:1:248:1893:25c8:1946"

BLOCKED_ADDRESSES = [
    "127.0.0.1",
    "127.1.2.3",
    "::1",
    "10.0.0.5",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "fc00::1",
    "fd00:ec2::254",
    "fe80::1",
    "fe80::1%eth0",
    "fec0::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "0.0.0.0",  # noqa: S104  # an address to refuse, not one we bind
    "::",
    "224.0.0.1",
    "239.255.255.250",
    "ff02::1",
    "240.0.0.1",
    "255.255.255.255",
    "198.18.0.1",
    "192.0.0.8",
    "not-an-ip",
]


class StaticResolver:
    """A resolver fake: fixed answers per hostname, and a record of every lookup."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.lookups: list[tuple[str, int]] = []

    async def resolve(self, host: str, port: int) -> list[str]:
        self.lookups.append((host, port))
        return self.answers.get(host, [])


class RecordingTransport(httpx.MockTransport):
    """A MockTransport that records every request it is asked to send."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []

        async def record(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            if handler is None:
                return httpx.Response(200, json={"ok": True})
            return handler(request)

        super().__init__(record)


def fetcher(
    answers: dict[str, list[str]] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    allow_loopback: bool = False,
    max_bytes: int = 1024,
    timeout: float = 5.0,
) -> GuardedFetcher:
    return GuardedFetcher(
        resolver=StaticResolver(answers if answers is not None else {"docs.example": [PUBLIC_IP]}),
        timeout=timeout,
        max_bytes=max_bytes,
        allow_loopback=allow_loopback,
        transport=transport,
    )


@pytest.mark.parametrize("address", BLOCKED_ADDRESSES)
async def test_hostname_resolving_to_an_internal_address_is_refused_before_any_request(address: str) -> None:
    transport = RecordingTransport()
    with pytest.raises(SsrfError) as raised:
        await fetcher({"evil.example": [address]}, transport).fetch("https://evil.example/x")
    assert raised.value.reason == "blocked_address"
    assert transport.requests == []


@pytest.mark.parametrize("address", BLOCKED_ADDRESSES)
def test_internal_addresses_are_blocked(address: str) -> None:
    assert is_blocked_address(address, allow_loopback=False)


@pytest.mark.parametrize("address", [PUBLIC_IP, "8.8.8.8", PUBLIC_IPV6, "::ffff:93.184.216.34", "64:ff9b::5db8:d822"])
def test_public_unicast_addresses_are_allowed(address: str) -> None:
    assert not is_blocked_address(address, allow_loopback=False)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_dev_mode_allows_loopback(address: str) -> None:
    assert not is_blocked_address(address, allow_loopback=True)


@pytest.mark.parametrize("address", ["10.0.0.5", "169.254.169.254", "fd00:ec2::254", "0.0.0.0", "192.168.1.1"])  # noqa: S104
def test_dev_mode_still_blocks_other_internal_addresses(address: str) -> None:
    assert is_blocked_address(address, allow_loopback=True)


async def test_a_mixed_public_and_private_answer_is_refused() -> None:
    transport = RecordingTransport()
    with pytest.raises(SsrfError) as raised:
        await fetcher({"evil.example": [PUBLIC_IP, "10.0.0.1"]}, transport).fetch("https://evil.example/x")
    assert raised.value.reason == "blocked_address"
    assert transport.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",
        "https://127.0.0.1/x",
        "https://[::1]/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://10.0.0.1:8443/x",
        "https://0x7f.1/x",  # inet_aton spelling of 127.0.0.1
    ],
)
async def test_literal_ip_hosts_go_through_the_same_checks(url: str) -> None:
    transport = RecordingTransport()
    guarded = GuardedFetcher(resolver=SystemResolver(), timeout=5, max_bytes=1024, transport=transport)
    with pytest.raises(SsrfError) as raised:
        await guarded.fetch(url)
    assert raised.value.reason == "blocked_address"
    assert transport.requests == []


async def test_system_resolver_parses_numeric_hosts() -> None:
    assert await SystemResolver().resolve("127.0.0.1", 443) == ["127.0.0.1"]


async def test_request_is_pinned_to_the_checked_address_with_the_original_host_and_sni() -> None:
    transport = RecordingTransport()
    document = await fetcher(transport=transport).fetch("https://docs.example/client.json?v=1")
    (request,) = transport.requests
    assert request.url.host == PUBLIC_IP
    assert request.url.scheme == "https"
    assert request.url.raw_path == b"/client.json?v=1"
    assert request.headers["host"] == "docs.example"
    assert request.extensions["sni_hostname"] == "docs.example"
    assert request.headers["accept"] == "application/json"
    assert document == FetchedDocument(
        url="https://docs.example/client.json?v=1",
        status=200,
        headers={"content-length": "11", "content-type": "application/json"},
        body=b'{"ok":true}',
    )


async def test_pinning_keeps_a_non_default_port_and_brackets_ipv6() -> None:
    transport = RecordingTransport()
    await fetcher({"docs.example": [PUBLIC_IPV6]}, transport).fetch("https://docs.example:8443/c")
    (request,) = transport.requests
    assert request.url.host == PUBLIC_IPV6
    assert request.url.port == 8443
    assert request.headers["host"] == "docs.example:8443"


async def test_international_hostnames_are_resolved_and_verified_in_their_ascii_form() -> None:
    transport = RecordingTransport()
    guarded = fetcher({"xn--bcher-kva.example": [PUBLIC_IP]}, transport)
    await guarded.fetch("https://bücher.example/c")
    (request,) = transport.requests
    assert request.headers["host"] == "xn--bcher-kva.example"
    assert request.extensions["sni_hostname"] == "xn--bcher-kva.example"


async def test_next_checked_address_is_tried_when_the_first_refuses_the_connection() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == PUBLIC_IPV6:
            raise httpx.ConnectError("no route", request=request)
        return httpx.Response(200, json={})

    transport = RecordingTransport(handler)
    document = await fetcher({"docs.example": [PUBLIC_IPV6, PUBLIC_IP]}, transport).fetch("https://docs.example/c")
    assert document.status == 200
    assert [r.url.host for r in transport.requests] == [PUBLIC_IPV6, PUBLIC_IP]


async def test_no_address_accepting_a_connection_is_reported() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(SsrfError) as raised:
        await fetcher(transport=RecordingTransport(handler)).fetch("https://docs.example/c")
    assert raised.value.reason == "connect_failed"


async def test_a_hostname_without_addresses_is_refused() -> None:
    with pytest.raises(SsrfError) as raised:
        await fetcher({}, RecordingTransport()).fetch("https://nowhere.example/c")
    assert raised.value.reason == "resolution_failed"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://docs.example/c", "scheme_not_allowed"),
        ("ftp://docs.example/c", "scheme_not_allowed"),
        ("file:///etc/passwd", "invalid_url"),
    ],
)
async def test_schemes_other_than_https_are_refused_outside_dev(url: str, reason: str) -> None:
    transport = RecordingTransport()
    with pytest.raises(SsrfError) as raised:
        await fetcher(transport=transport).fetch(url)
    assert raised.value.reason == reason
    assert transport.requests == []


async def test_dev_mode_allows_plain_http_when_every_address_is_loopback() -> None:
    transport = RecordingTransport()
    guarded = fetcher({"localhost": ["::1", "127.0.0.1"]}, transport, allow_loopback=True)
    document = await guarded.fetch("http://localhost:8000/c")
    assert document.status == 200
    assert str(transport.requests[0].url) == "http://[::1]:8000/c"


async def test_dev_mode_refuses_plain_http_to_a_public_address() -> None:
    transport = RecordingTransport()
    with pytest.raises(SsrfError) as raised:
        await fetcher(transport=transport, allow_loopback=True).fetch("http://docs.example/c")
    assert raised.value.reason == "scheme_not_allowed"
    assert transport.requests == []


@pytest.mark.parametrize("url", ["https://user:pass@docs.example/c", "https:///c", "https://[zz]/c"])
async def test_malformed_urls_and_credentials_are_refused(url: str) -> None:
    transport = RecordingTransport()
    with pytest.raises(SsrfError) as raised:
        await fetcher(transport=transport).fetch(url)
    assert raised.value.reason == "invalid_url"
    assert transport.requests == []


def redirecting(location_by_path: dict[str, str]) -> RecordingTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        location = location_by_path.get(request.url.path)
        if location is not None:
            return httpx.Response(302, headers={"location": location})
        return httpx.Response(200, json={"path": request.url.path})

    return RecordingTransport(handler)


@pytest.mark.parametrize(
    "location",
    ["https://other.example/c", "http://docs.example/c", "https://docs.example:8443/c", "//other.example/c"],
)
async def test_a_redirect_to_another_origin_is_refused(location: str) -> None:
    transport = redirecting({"/c": location})
    answers = {"docs.example": [PUBLIC_IP], "other.example": [PUBLIC_IP]}
    guarded = fetcher(answers, transport)
    with pytest.raises(SsrfError) as raised:
        await guarded.fetch("https://docs.example/c")
    assert raised.value.reason == "redirect_not_allowed"
    assert len(transport.requests) == 1


async def test_two_same_origin_redirects_are_followed_and_each_is_rechecked() -> None:
    transport = redirecting({"/a": "/b", "/b": "https://docs.example/c"})
    resolver = StaticResolver({"docs.example": [PUBLIC_IP]})
    guarded = GuardedFetcher(resolver=resolver, timeout=5, max_bytes=1024, transport=transport)
    document = await guarded.fetch("https://docs.example/a")
    assert document.url == "https://docs.example/c"
    assert document.body == b'{"path":"/c"}'
    assert resolver.lookups == [("docs.example", 443)] * 3


async def test_a_third_redirect_is_refused() -> None:
    transport = redirecting({"/a": "/b", "/b": "/c", "/c": "/d"})
    with pytest.raises(SsrfError) as raised:
        await fetcher(transport=transport).fetch("https://docs.example/a")
    assert raised.value.reason == "redirect_not_allowed"
    assert len(transport.requests) == 3


async def test_a_same_origin_redirect_after_dns_rebinding_is_refused() -> None:
    class RebindingResolver:
        def __init__(self) -> None:
            self.answers = iter([[PUBLIC_IP], ["169.254.169.254"]])

        async def resolve(self, host: str, port: int) -> list[str]:
            return next(self.answers)

    transport = redirecting({"/a": "/b"})
    guarded = GuardedFetcher(resolver=RebindingResolver(), timeout=5, max_bytes=1024, transport=transport)
    with pytest.raises(SsrfError) as raised:
        await guarded.fetch("https://docs.example/a")
    assert raised.value.reason == "blocked_address"
    assert [r.url.host for r in transport.requests] == [PUBLIC_IP]


@pytest.mark.parametrize("status", [404, 500, 304])
async def test_non_success_statuses_are_refused(status: int) -> None:
    transport = RecordingTransport(lambda request: httpx.Response(status))
    with pytest.raises(SsrfError) as raised:
        await fetcher(transport=transport).fetch("https://docs.example/c")
    assert raised.value.reason == "http_error"


async def test_compressed_bodies_are_refused() -> None:
    transport = RecordingTransport(lambda request: httpx.Response(200, headers={"content-encoding": "gzip"}))
    with pytest.raises(SsrfError) as raised:
        await fetcher(transport=transport).fetch("https://docs.example/c")
    assert raised.value.reason == "http_error"
    assert transport.requests[0].headers["accept-encoding"] == "identity"


async def test_a_body_of_exactly_max_bytes_is_accepted() -> None:
    transport = RecordingTransport(lambda request: httpx.Response(200, content=b"x" * 1024))
    document = await fetcher(transport=transport, max_bytes=1024).fetch("https://docs.example/c")
    assert len(document.body) == 1024


async def test_a_declared_oversized_body_is_refused() -> None:
    transport = RecordingTransport(lambda request: httpx.Response(200, content=b"x" * 1025))
    with pytest.raises(SsrfError) as raised:
        await fetcher(transport=transport, max_bytes=1024).fetch("https://docs.example/c")
    assert raised.value.reason == "too_large"


async def test_an_undeclared_oversized_body_is_abandoned_while_streaming() -> None:
    sent: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        while True:
            sent.append(1)
            yield b"x" * 100

    transport = RecordingTransport(lambda request: httpx.Response(200, content=endless()))
    with pytest.raises(SsrfError) as raised:
        await fetcher(transport=transport, max_bytes=1024).fetch("https://docs.example/c")
    assert raised.value.reason == "too_large"
    assert len(sent) == 11


async def test_a_server_that_never_answers_times_out() -> None:
    never = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        await never.wait()
        raise AssertionError("unreachable")

    with pytest.raises(SsrfError) as raised:
        await fetcher(transport=httpx.MockTransport(hang), timeout=0.2).fetch("https://docs.example/c")
    assert raised.value.reason == "timeout"


async def test_a_body_that_trickles_forever_times_out() -> None:
    never = asyncio.Event()

    async def trickle() -> AsyncIterator[bytes]:
        yield b"{"
        await never.wait()

    transport = RecordingTransport(lambda request: httpx.Response(200, content=trickle()))
    with pytest.raises(SsrfError) as raised:
        await fetcher(transport=transport, timeout=0.2).fetch("https://docs.example/c")
    assert raised.value.reason == "timeout"


async def test_a_slow_resolver_counts_against_the_deadline() -> None:
    class SlowResolver:
        async def resolve(self, host: str, port: int) -> list[str]:
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    guarded = GuardedFetcher(resolver=SlowResolver(), timeout=0.2, max_bytes=1024, transport=RecordingTransport())
    with pytest.raises(SsrfError) as raised:
        await guarded.fetch("https://docs.example/c")
    assert raised.value.reason == "timeout"


@pytest.fixture
async def silent_loopback_server() -> AsyncIterator[int]:
    """A real TCP server on 127.0.0.1 that accepts connections and never answers (slowloris in reverse)."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_a_real_loopback_server_that_never_answers_times_out(silent_loopback_server: int) -> None:
    guarded = GuardedFetcher(resolver=SystemResolver(), timeout=0.2, max_bytes=1024, allow_loopback=True)
    with pytest.raises(SsrfError) as raised:
        await guarded.fetch(f"http://127.0.0.1:{silent_loopback_server}/c")
    assert raised.value.reason == "timeout"
