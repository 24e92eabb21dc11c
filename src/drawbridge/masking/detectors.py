"""Detectors for personal data and secrets in free text.

Threat model: tool results carry customer data (emails, phone numbers, card and bank numbers, National Insurance
numbers, IP addresses) and sometimes credentials pasted into tickets or logs. A caller without the right to see
them must not receive them, so a miss leaks data; a false positive only hides harmless text, but too many of them
make results useless (an order number masked as a phone number). Each detector is therefore a cheap compiled
regex that proposes candidates, followed by a validator that rejects look-alikes: Luhn for cards, ISO 13616
mod-97 and per-country length for IBANs, the HMRC prefix rules for NI numbers, :mod:`ipaddress` for IPs,
``phonenumbers`` metadata for phone numbers (the one costly check, about 60 µs, so it runs only on phone candidates
that no other detector already claimed), and character-class rules for secret tokens.

Overlaps are resolved so that the longest match wins, ties going to the more specific kind (a checksum beats a
pattern); phone numbers are the least specific and only fill the gaps the other detectors leave.

Known limits: NI numbers and IBANs are matched in upper case only; a four-part version string such as
``1.2.3.4`` is a valid IPv4 address and is detected as one; bare national phone numbers without separators are
only found in the UK ``0…`` form.
"""

from __future__ import annotations

import ipaddress
import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import phonenumbers

Kind = Literal["email", "phone", "ni_number", "card", "iban", "ip", "secret"]
KINDS: tuple[Kind, ...] = ("email", "phone", "ni_number", "card", "iban", "ip", "secret")

# Ties between equally long matches go to the kind with the stronger validator.
_RANK: dict[Kind, int] = {"secret": 0, "iban": 1, "card": 2, "email": 3, "ni_number": 4, "ip": 5, "phone": 6}
_MIN_LENGTH = 6  # "a@b.co"; shorter strings (even "::1") carry nothing worth the scan
_SECRET_MIN_LENGTH = 20
_SECRET_HINTS = ("eyJ", "sk-", "sk_", "rk_", "gh", "github_pat_", "AKIA", "ASIA", "xox", "AIza")


@dataclass(frozen=True, slots=True)
class Match:
    """One detected value: ``text[start:end] == value``. The value is kept out of ``repr`` so it is never logged."""

    kind: Kind
    start: int
    end: int
    value: str = field(repr=False)


_DIGIT = re.compile(r"\d")
_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?![\w-])"
)
_CARD = re.compile(r"(?<![\d-])(?<!\d[ -])\d(?:[ -]?\d){12,18}(?!\d)")  # starts only where a digit run starts
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}")
# HMRC: first letter not D F I Q U V, second not D F I O Q U V; suffix A-D.
_NI_NUMBER = re.compile(
    r"(?<![A-Za-z0-9])([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]) ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])"
)
_NI_UNALLOCATED = frozenset({"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"})
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4})(?![\w:]|\.\d)(?:%\w+)?"
)
_PHONE = re.compile(
    r"""
    (?<![\w+/])(?<!\d[-.])            # not the tail of a longer number or identifier such as 2026-000123
    (?:
        \+\d{1,3}[ .-]?(?:\(0\)[ .-]?)?\(?\d{1,4}\)?(?:[ .-]?\d{2,4}){1,4}  # international: +44 7911 123456
      | \(?0\d{2,4}\)?[ .-]?\d{3,4}[ .-]?\d{3,4}                         # UK national: 020 7946 0958
      | \(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}                                 # North American: (202) 555-0123
    )
    (?!\w)(?![-.]\d)
    """,
    re.VERBOSE,
)
_SECRET = re.compile(
    r"""
    (?<![\w-])(?:
        (?P<jwt>eyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){2,4})
      | (?P<sk>sk-[A-Za-z0-9_-]{20,})
      | (?P<stripe>(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,})
      | (?P<github>gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})
      | (?P<aws>(?:AKIA|ASIA)[0-9A-Z]{16})
      | (?P<slack>xox[abprs]-[A-Za-z0-9-]{10,})
      | (?P<google>AIza[0-9A-Za-z_-]{35})
    )(?![\w-])
    """,
    re.VERBOSE,
)
# Free-form prefixes ("sk-", "xoxb-") also start ordinary words; require the mix of cases and digits that random
# tokens have and prose identifiers ("sk-learn-compatible-estimator") do not.
_NEEDS_MIXED_BODY = {"sk": 3, "slack": 5}

# ISO 13616 registry lengths; a country not listed is not an IBAN country.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "BY": 28,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19,
    "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
_IBAN_LETTER_VALUES = str.maketrans({chr(c): str(c - 55) for c in range(ord("A"), ord("Z") + 1)})  # A=10 … Z=35


def find(text: str) -> list[Match]:
    """Detect personal data and secrets in ``text``.

    Returns non-overlapping matches ordered by position. Where candidates overlap, the longest wins, ties going
    to the more specific kind; phone numbers only fill gaps.
    """
    if len(text) < _MIN_LENGTH:
        return []
    has_digit = _DIGIT.search(text) is not None
    chosen = _Spans()
    for match in sorted(_candidates(text, has_digit), key=lambda m: (m.start - m.end, _RANK[m.kind], m.start)):
        chosen.add_if_free(match)
    if has_digit:
        for match in _phone_candidates(text):
            if chosen.is_free(match) and _is_phone(match.value):
                chosen.add_if_free(match)
    return chosen.matches


def _candidates(text: str, has_digit: bool) -> Iterator[Match]:
    """Validated matches of every kind but phone, overlapping; each detector runs only if its trigger is there.

    The triggers are C-speed substring and length tests: most JSON strings are short words, and calling a regex
    costs more than scanning with one.
    """
    if "@" in text:
        yield from _emails(text)
    length = len(text)
    if has_digit:
        if length >= 13:
            yield from _cards(text)
        if length >= 15:
            yield from _ibans(text)
        if length >= 9:
            yield from _ni_numbers(text)
        if text.count(".") >= 3:
            yield from _ips(_IPV4, text)
    if text.count(":") >= 2:
        yield from _ips(_IPV6, text)
    if length >= _SECRET_MIN_LENGTH and any(hint in text for hint in _SECRET_HINTS):
        yield from _secrets(text)


class _Spans:
    """Non-overlapping matches kept sorted by start, so an overlap check is a bisection."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.matches: list[Match] = []

    def is_free(self, match: Match) -> bool:
        i = bisect_right(self.starts, match.start)
        if i > 0 and self.matches[i - 1].end > match.start:
            return False
        return i == len(self.starts) or self.starts[i] >= match.end

    def add_if_free(self, match: Match) -> None:
        if self.is_free(match):
            i = bisect_right(self.starts, match.start)
            self.starts.insert(i, match.start)
            self.matches.insert(i, match)


def _emails(text: str) -> Iterator[Match]:
    for m in _EMAIL.finditer(text):
        yield Match("email", m.start(), m.end(), m.group())


def _cards(text: str) -> Iterator[Match]:
    for m in _CARD.finditer(text):
        digits = m.group().replace(" ", "").replace("-", "")
        if len(set(digits)) > 1 and luhn_valid(digits):
            yield Match("card", m.start(), m.end(), m.group())


def luhn_valid(digits: str) -> bool:
    """Return whether a string of ASCII digits passes the Luhn (mod 10) check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _ibans(text: str) -> Iterator[Match]:
    for m in _IBAN.finditer(text):
        length = _IBAN_LENGTHS.get(m.group()[:2])
        if length is None:
            continue
        end = _end_after_n_alnum(text, m.start(), m.end(), length)
        if end is None or (end < len(text) and text[end].isalnum()):
            continue
        value = text[m.start() : end]
        if iban_valid(value.replace(" ", "")):
            yield Match("iban", m.start(), end, value)


def _end_after_n_alnum(text: str, start: int, stop: int, n: int) -> int | None:
    """The index just past the n-th non-space character in ``text[start:stop]``, if there are that many.

    The regex is greedy and may run into a following upper-case word; the country's registered length says
    where the IBAN really ends.
    """
    seen = 0
    for i in range(start, stop):
        if text[i] != " ":
            seen += 1
            if seen == n:
                return i + 1
    return None


def iban_valid(compact: str) -> bool:
    """Return whether an IBAN without spaces has its country's length and passes ISO 7064 mod-97."""
    if _IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    return int((compact[4:] + compact[:4]).translate(_IBAN_LETTER_VALUES)) % 97 == 1


def _ni_numbers(text: str) -> Iterator[Match]:
    for m in _NI_NUMBER.finditer(text):
        if m.group(1) not in _NI_UNALLOCATED:
            yield Match("ni_number", m.start(), m.end(), m.group())


def _ips(pattern: re.Pattern[str], text: str) -> Iterator[Match]:
    for m in pattern.finditer(text):
        value = m.group()
        try:
            ipaddress.ip_address(value)
        except ValueError:
            continue
        yield Match("ip", m.start(), m.end(), value)


def _secrets(text: str) -> Iterator[Match]:
    for m in _SECRET.finditer(text):
        kind = m.lastgroup
        value = m.group()
        if kind in _NEEDS_MIXED_BODY and not _looks_random(value[_NEEDS_MIXED_BODY[kind] :]):
            continue
        yield Match("secret", m.start(), m.end(), value)


def _looks_random(body: str) -> bool:
    return any(c.isdigit() for c in body) and any(c.isupper() for c in body) and any(c.islower() for c in body)


def _phone_candidates(text: str) -> Iterator[Match]:
    for m in _PHONE.finditer(text):
        yield Match("phone", m.start(), m.end(), m.group())


def _is_phone(candidate: str) -> bool:
    # A leading "+" carries its own country code; a trunk "0" is the UK form; anything else is read as NANP.
    region = "GB" if candidate.startswith(("+", "0", "(0")) else "US"
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(number))
