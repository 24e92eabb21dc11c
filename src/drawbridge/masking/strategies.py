"""What a detected value becomes: redacted, partially shown, pseudonymised, or kept.

- ``redact`` replaces the value with its kind in brackets (``[email]``), so the reader knows what was removed.
- ``partial`` keeps only what support staff need to recognise a value and nothing that identifies it alone:
  the first letter of an email's local part and its domain (``j***@example.com``), a card's last four digits in
  a fixed four-group shape that hides the card's length (``**** **** **** 4242``), a phone number's last three
  digits with its punctuation (``+** **** ***456``), an NI number's prefix letters and suffix (``AB ** ** ** C``:
  the six digits carry the identity, the letters about nine bits), an IBAN's country and last four characters,
  an IPv4 address without its last octet (``203.0.113.*``) or an IPv6 address cut to its /48, and a secret's
  first three characters (``sk-***``).
- ``pseudonym`` is a keyed HMAC-SHA256 of the normalised value (``email_3f9a1c2b04de``): stable for one key, so
  results can still be joined on it, different under another key, and not reversible without the key. The kind
  is part of the MAC input, so the same digits as a card and as a phone number give unrelated tokens.
- ``keep`` leaves the value as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Callable
from typing import Literal

from drawbridge.errors import ConfigError

Strategy = Literal["redact", "partial", "pseudonym", "keep"]
STRATEGIES: tuple[Strategy, ...] = ("redact", "partial", "pseudonym", "keep")
MIN_PSEUDONYM_KEY_BYTES = 16
_PSEUDONYM_HEX = 12  # 48 bits: collisions stay unlikely (birthday bound ~16 million values) within one key


class InvalidMaskingRule(ConfigError):
    """A masking rule names an unknown kind, strategy or path, or pseudonyms lack a key of at least 16 bytes."""


def redact(kind: str) -> str:
    """Replace a value by its kind: ``[email]``."""
    return f"[{kind}]"


def partial(value: str, kind: str) -> str:
    """Keep the least identifying part of ``value`` as described in the module docstring.

    A kind without a specific rule (a whole field masked by path) keeps its first character only.
    """
    shape = _PARTIAL.get(kind, _partial_other)
    return shape(value)


def pseudonym(value: str, key: bytes, kind: str) -> str:
    """Return a stable keyed token for ``value``: ``<kind>_<12 hex digits of HMAC-SHA256>``.

    Raises:
        InvalidMaskingRule: the key is shorter than 16 bytes.
    """
    check_pseudonym_key(key)
    message = f"{kind}\x00{_normalise(value, kind)}".encode()
    digest = hmac.new(key, message, hashlib.sha256).hexdigest()
    return f"{kind}_{digest[:_PSEUDONYM_HEX]}"


def check_pseudonym_key(key: bytes | None) -> None:
    """Raise :class:`InvalidMaskingRule` unless ``key`` is at least 16 bytes long."""
    if key is None or len(key) < MIN_PSEUDONYM_KEY_BYTES:
        raise InvalidMaskingRule(f"the pseudonym key must be at least {MIN_PSEUDONYM_KEY_BYTES} bytes")


def apply(strategy: Strategy, value: str, kind: str, key: bytes | None) -> str:
    """Apply ``strategy`` to ``value`` of ``kind``.

    Raises:
        InvalidMaskingRule: ``pseudonym`` without a key (rules validate this up front).
    """
    return bind(strategy, kind, key)(value)


def bind(strategy: Strategy, kind: str, key: bytes | None) -> Callable[[str], str]:
    """:func:`apply` with its strategy, kind and key fixed, so a masker resolves them once per kind, not per value.

    Raises:
        InvalidMaskingRule: ``pseudonym`` without a key.
    """
    if strategy == "redact":
        token = redact(kind)
        return lambda _value: token
    if strategy == "partial":
        return _PARTIAL.get(kind, _partial_other)
    if strategy == "pseudonym":
        check_pseudonym_key(key)
        assert key is not None  # noqa: S101 -- narrowing for mypy; check_pseudonym_key raised otherwise
        return lambda value: pseudonym(value, key, kind)
    return _keep


def _keep(value: str) -> str:
    return value


def _normalise(value: str, kind: str) -> str:
    """Spelling variants of one value ("4242 4242…" and "4242-4242…") must map to one pseudonym."""
    if kind == "email":
        return value.strip().lower()
    if kind in ("card", "phone"):
        return "".join(c for c in value if c.isdigit())
    if kind in ("iban", "ni_number"):
        return value.replace(" ", "").upper()
    return value


def _partial_email(value: str) -> str:
    local, _, domain = value.rpartition("@")
    return f"{local[:1]}***@{domain}"


def _partial_card(value: str) -> str:
    digits = [c for c in value if c.isdigit()]
    return "**** **** **** " + "".join(digits[-4:])


def _partial_phone(value: str) -> str:
    total = sum(c.isdigit() for c in value)
    out: list[str] = []
    seen = 0
    for c in value:
        if c.isdigit():
            seen += 1
            out.append(c if seen > total - 3 else "*")
        else:
            out.append(c)
    return "".join(out)


def _partial_ni_number(value: str) -> str:
    compact = value.replace(" ", "").upper()
    return f"{compact[:2]} ** ** ** {compact[-1:]}"


def _partial_iban(value: str) -> str:
    compact = value.replace(" ", "")
    return compact[:2] + "*" * max(len(compact) - 6, 0) + compact[-4:]


def _partial_ip(value: str) -> str:
    if ":" in value:
        try:
            hextets = ipaddress.IPv6Address(value.partition("%")[0]).exploded.split(":")
        except ValueError:
            return "***"
        return ":".join(hextets[:3]) + "::*"
    return value.rpartition(".")[0] + ".*"


def _partial_secret(value: str) -> str:
    return value[:3] + "***"


def _partial_other(value: str) -> str:
    return value[:1] + "***" if len(value) > 3 else "***"


_PARTIAL = {
    "email": _partial_email,
    "card": _partial_card,
    "phone": _partial_phone,
    "ni_number": _partial_ni_number,
    "iban": _partial_iban,
    "ip": _partial_ip,
    "secret": _partial_secret,
}
