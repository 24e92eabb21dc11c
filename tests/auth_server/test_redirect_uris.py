"""Redirect URI rules (OAuth 2.1 §2.3.1, RFC 8252 §7) and PKCE S256 (RFC 7636), as pure functions."""

from __future__ import annotations

import pytest

from drawbridge.auth_server import pkce
from drawbridge.auth_server.errors import InvalidGrant, InvalidRequest
from drawbridge.auth_server.redirect_uris import matches, validate_registered

# RFC 7636 Appendix B.
RFC_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example/callback",
        "https://app.example:8443/oauth/cb?tenant=1",
        "http://127.0.0.1/callback",
        "http://127.0.0.1:9999/callback",
        "http://[::1]:8080/callback",
        "http://localhost:3000/callback",
        "com.example.app:/oauth2redirect",
        "com.example.app:/callback",
    ],
)
def test_https_loopback_http_and_private_use_schemes_may_be_registered(uri: str) -> None:
    assert validate_registered(uri) is None


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("http://app.example/callback", id="http-not-loopback"),
        pytest.param("http://localhost.evil.example/callback", id="http-loopback-lookalike"),
        pytest.param("http://127.0.0.1.nip.io/callback", id="http-loopback-ip-prefix"),
        pytest.param("https://app.example/callback#frag", id="fragment"),
        pytest.param("https://app.example/callback#", id="empty-fragment"),
        pytest.param("javascript:alert(1)", id="javascript-scheme"),
        pytest.param("JavaScript:alert(1)", id="javascript-scheme-mixed-case"),
        pytest.param("data:text/html,hello", id="data-scheme"),
        pytest.param("file:///etc/passwd", id="file-scheme"),
        pytest.param("myapp:/callback", id="private-scheme-not-reverse-domain"),
        pytest.param("/callback", id="relative-path"),
        pytest.param("callback", id="relative-name"),
        pytest.param("//app.example/callback", id="scheme-relative"),
        pytest.param("https:///callback", id="https-without-host"),
        pytest.param("https://user:pass@app.example/callback", id="userinfo"),
        pytest.param("http://user@127.0.0.1:9999/callback", id="userinfo-on-loopback"),
        pytest.param("http://127.0.0.1:99999/callback", id="port-out-of-range"),
        pytest.param("http://127.0.0.1:port/callback", id="port-not-numeric"),
        pytest.param("", id="empty"),
    ],
)
def test_other_redirect_uris_may_not_be_registered(uri: str) -> None:
    assert validate_registered(uri) is not None


REGISTERED = ["http://127.0.0.1:9999/callback", "https://app.example/callback"]


@pytest.mark.parametrize(
    "requested",
    [
        pytest.param("http://127.0.0.1:9999/callback", id="exact-loopback"),
        pytest.param("https://app.example/callback", id="exact-https"),
        pytest.param("http://127.0.0.1:12345/callback", id="loopback-other-port"),
        pytest.param("http://127.0.0.1/callback", id="loopback-no-port"),
    ],
)
def test_exact_uris_and_loopback_ip_port_variants_match(requested: str) -> None:
    assert matches(REGISTERED, requested)


@pytest.mark.parametrize(
    "requested",
    [
        pytest.param("http://127.0.0.1:9999/callback/extra", id="path-suffix"),
        pytest.param("http://127.0.0.1:9999/callbac", id="path-prefix"),
        pytest.param("http://127.0.0.1:9999/Callback", id="path-case"),
        pytest.param("http://127.0.0.1:9999/callback?x=1", id="query-added"),
        pytest.param("http://127.0.0.1:9999/callback#x", id="fragment-added"),
        pytest.param("http://localhost:9999/callback", id="other-loopback-host"),
        pytest.param("http://[::1]:9999/callback", id="ipv6-loopback-for-ipv4"),
        pytest.param("https://127.0.0.1:9999/callback", id="scheme-changed"),
        pytest.param("HTTP://127.0.0.1:9999/callback", id="scheme-case-loopback"),
        pytest.param("http://evil.example@127.0.0.1:9999/callback", id="userinfo-added-loopback"),
        pytest.param("http://127.0.0.1@evil.example:9999/callback", id="userinfo-host-swap"),
        pytest.param("https://app.example:443/callback", id="https-port-added"),
        pytest.param("https://app.example:8443/callback", id="https-port-changed"),
        pytest.param("HTTPS://APP.EXAMPLE/callback", id="https-case"),
        pytest.param("https://app.example.evil.example/callback", id="host-suffix"),
        pytest.param("https://app.example/callback/", id="trailing-slash"),
        pytest.param("http://127.0.0.1:port/callback", id="malformed-port"),
    ],
)
def test_anything_else_does_not_match(requested: str) -> None:
    assert not matches(REGISTERED, requested)


def test_ipv6_loopback_port_may_vary() -> None:
    assert matches(["http://[::1]:8080/callback"], "http://[::1]:9090/callback")
    assert matches(["http://[::1]/callback"], "http://[::1]:9090/callback")


def test_localhost_port_must_match_exactly() -> None:
    """RFC 8252 §7.3 lets the port vary for loopback IP literals only; ``localhost`` is matched exactly."""
    assert matches(["http://localhost:3000/callback"], "http://localhost:3000/callback")
    assert not matches(["http://localhost:3000/callback"], "http://localhost:4000/callback")


def test_s256_matches_rfc_7636_example() -> None:
    assert pkce.s256(RFC_VERIFIER) == RFC_CHALLENGE


def test_valid_s256_challenge_is_accepted() -> None:
    assert pkce.validate_challenge(RFC_CHALLENGE, "S256") == RFC_CHALLENGE


@pytest.mark.parametrize(
    ("challenge", "method"),
    [
        pytest.param(None, "S256", id="missing-challenge"),
        pytest.param("", "S256", id="empty-challenge"),
        pytest.param(RFC_CHALLENGE, "plain", id="plain"),
        pytest.param(RFC_CHALLENGE, None, id="missing-method"),
        pytest.param(RFC_CHALLENGE, "s256", id="method-lower-case"),
        pytest.param(RFC_CHALLENGE[:-1], "S256", id="42-characters"),
        pytest.param(RFC_CHALLENGE + "A", "S256", id="44-characters"),
        pytest.param(RFC_CHALLENGE[:-1] + "=", "S256", id="padding"),
        pytest.param(RFC_CHALLENGE[:-1] + "+", "S256", id="base64-not-url-safe"),
        pytest.param(RFC_VERIFIER + "~", "S256", id="verifier-as-challenge"),
    ],
)
def test_missing_plain_or_malformed_challenges_are_invalid_requests(challenge: str | None, method: str | None) -> None:
    with pytest.raises(InvalidRequest) as exc_info:
        pkce.validate_challenge(challenge, method)
    assert exc_info.value.error == "invalid_request"


def test_matching_verifier_passes() -> None:
    pkce.verify(RFC_VERIFIER, RFC_CHALLENGE)


@pytest.mark.parametrize(
    "verifier",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("a" * 42, id="too-short"),
        pytest.param("a" * 129, id="too-long"),
        pytest.param(RFC_VERIFIER[:-1] + "+", id="invalid-character"),
        pytest.param(RFC_VERIFIER[:-1] + "A", id="wrong-verifier"),
        pytest.param(RFC_CHALLENGE, id="challenge-as-verifier"),
    ],
)
def test_missing_malformed_or_wrong_verifiers_are_invalid_grants(verifier: str | None) -> None:
    with pytest.raises(InvalidGrant) as exc_info:
        pkce.verify(verifier, RFC_CHALLENGE)
    assert exc_info.value.error == "invalid_grant"
