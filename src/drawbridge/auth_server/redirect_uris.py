"""Redirect URI rules (OAuth 2.1 §2.3.1 and §7.5, RFC 8252 §7, RFC 9700 §4.1).

Threats: an attacker registering or using a redirect URI that sends codes to a host it controls (open redirect,
prefix or case tricks such as ``https://app.example.com.evil.net/cb`` or ``HTTPS://APP.example.com/cb``).
Registered URIs must be https, loopback http, or a private-use scheme of a native app; matching is exact string
equality, with the one exception RFC 8252 §7.3 requires: a loopback IP literal's port may vary.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "[::1]", "localhost"})
_LOOPBACK_IP_LITERALS = frozenset({"127.0.0.1", "[::1]"})
# RFC 8252 §7.1: private-use schemes for native apps, in reverse-domain form (e.g. com.example.app:/cb).
_PRIVATE_USE_SCHEME = re.compile(r"^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+$")


def validate_registered(uri: str) -> str | None:
    """Return why ``uri`` may not be registered, or None when it may."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "malformed URI"
    if parts.fragment or "#" in uri:
        return "fragments are not allowed"
    if parts.username or parts.password:
        return "credentials in the URI are not allowed"
    return _scheme_problem(parts)


def _scheme_problem(parts: SplitResult) -> str | None:
    if parts.scheme == "https":
        return None if parts.hostname else "https URI without a host"
    if parts.scheme == "http":
        return None if _netloc_host(parts.netloc) in LOOPBACK_HOSTS else "http is allowed only on loopback"
    if _PRIVATE_USE_SCHEME.fullmatch(parts.scheme):
        return None
    return "scheme not allowed: use https, loopback http, or a reverse-domain private-use scheme"


def matches(registered: tuple[str, ...] | list[str], requested: str) -> bool:
    """True when ``requested`` is one of the registered URIs (exactly; loopback IP ports may differ)."""
    if requested in registered:
        return True
    try:
        wanted = urlsplit(requested)
        wanted.port  # noqa: B018
    except ValueError:
        return False
    # urlsplit lowercases the scheme, so check the literal text: "HTTP://" must not match "http://".
    if not requested.startswith("http://") or "@" in wanted.netloc:
        return False
    if _netloc_host(wanted.netloc) not in _LOOPBACK_IP_LITERALS:
        return False
    return any(_same_except_port(urlsplit(candidate), wanted) for candidate in registered)


def _same_except_port(candidate: SplitResult, wanted: SplitResult) -> bool:
    return (
        "@" not in candidate.netloc
        and candidate.scheme == wanted.scheme
        and _netloc_host(candidate.netloc) == _netloc_host(wanted.netloc)
        and candidate.path == wanted.path
        and candidate.query == wanted.query
        and not wanted.fragment
    )


def _netloc_host(netloc: str) -> str:
    """The host part of a netloc exactly as written (case preserved, so case tricks don't match)."""
    host = netloc.rsplit("@", 1)[-1]
    if host.startswith("["):
        return host[: host.index("]") + 1] if "]" in host else host
    return host.split(":", 1)[0]
