"""Detectors for personal data and secrets in free text.

Threat model: tool results carry customer data (emails, phone numbers, card and bank numbers, National Insurance
numbers, IP addresses) and sometimes credentials pasted into tickets or logs. A caller without the right to see
them must not receive them, so a miss leaks data; a false positive only hides harmless text, but too many of them
make results useless (an order number masked as a phone number). Each detector is therefore a cheap compiled
regex that proposes candidates, followed by a validator that rejects look-alikes: Luhn for cards, ISO 13616
mod-97 and per-country length for IBANs, the HMRC prefix rules for NI numbers, :mod:`ipaddress` for IPs,
``phonenumbers`` metadata for phone numbers, and character-class rules for secret tokens.

Cost (docs/decisions/0009-masking-detectors.md): most strings in a tool result are words, ids and dates that hold
none of this, so each detector runs only when C-speed tests that its pattern implies pass (an ``@``, enough digits,
a capital letter); these skip work, never a match. ``phonenumbers`` is the one costly check (15 to 30 µs a
candidate), so it runs only on phone candidates that no other detector already claimed, and its verdicts are
cached per candidate text in a bounded LRU: a result repeats the same numbers, and so do successive results.

Overlaps are resolved so that the longest match wins, ties going to the more specific kind (a checksum beats a
pattern); phone numbers are the least specific and only fill the gaps the other detectors leave.

Known limits: NI numbers and IBANs are matched in upper case only; a four-part version string such as
``1.2.3.4`` is a valid IPv4 address and is detected as one; bare national phone numbers without separators are
only found in the UK ``0…`` form.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import phonenumbers

Kind = Literal["email", "phone", "ni_number", "card", "iban", "ip", "secret"]
KINDS: tuple[Kind, ...] = ("email", "phone", "ni_number", "card", "iban", "ip", "secret")

# Ties between equally long matches go to the kind with the stronger validator.
_RANK: dict[Kind, int] = {"secret": 0, "iban": 1, "card": 2, "email": 3, "ni_number": 4, "ip": 5, "phone": 6}
_MIN_LENGTH = 6  # "a@b.co"; shorter strings (even "::1") carry nothing worth the scan
_SECRET_MIN_LENGTH = 20
_PHONE_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Match:
    """One detected value: ``text[start:end] == value``. The value is kept out of ``repr`` so it is never logged."""

    kind: Kind
    start: int
    end: int
    value: str = field(repr=False)


# Every digit pattern (all but email, IPv6 and secrets) holds two digits at most one separator apart: "12", a
# card's "4 2", IPv4's "1.2". Beyond that each needs a number of digits: phone 4 after a "+" and 9 without (10
# for NANP), IPv4 4, NI 6, card 13.
_DIGIT_PAIR = re.compile(r"\d[ .-]?\d")
_WITHOUT_DIGITS = str.maketrans("", "", "0123456789")
_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?![\w-])"
)
# The card, IBAN, NI and IPv4 patterns open with a character class and test what precedes their first character
# in a lookbehind placed just after it. Same matches, but the engine then skips in C to where that class occurs;
# a leading lookbehind makes it try every position, which is up to three times slower on prose.
_CARD = re.compile(r"\d(?<![\d-]\d)(?<!\d[ -]\d)(?:[ -]?\d){12,18}(?!\d)")  # starts only where a digit run starts
_IBAN = re.compile(r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z]\d{2}(?: ?[A-Z0-9]){11,30}")
# HMRC: first letter not D F I Q U V, second not D F I O Q U V; suffix A-D.
_NI_NUMBER = re.compile(
    r"([A-CEGHJ-PR-TW-Z](?<![A-Za-z0-9][A-Z])[A-CEGHJ-NPR-TW-Z]) ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])"
)
_NI_UNALLOCATED = frozenset({"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"})
_IPV4 = re.compile(r"\d(?<![\w.]\d)\d{0,2}\.(?:\d{1,3}\.){2}\d{1,3}(?![\w]|\.\d)")
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
_SECRET_HINT = re.compile("eyJ|sk-|sk_|rk_|gh|github_pat_|AKIA|ASIA|xox|AIza")  # every _SECRET prefix

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
# The IBAN pattern at each registered length, to cut a greedy match where its country's IBAN ends.
_IBAN_OF_LENGTH = {n: re.compile(rf"[A-Z]{{2}}\d{{2}}(?: ?[A-Z0-9]){{{n - 4}}}") for n in set(_IBAN_LENGTHS.values())}


def find(text: str) -> list[Match]:
    """Detect personal data and secrets in ``text``.

    Returns non-overlapping matches ordered by position. Where candidates overlap, the longest wins, ties going
    to the more specific kind; phone numbers only fill gaps.
    """
    if len(text) < _MIN_LENGTH:
        return []
    digits = _digit_count(text) if _DIGIT_PAIR.search(text) else 0  # 0: no digit pattern can match
    candidates = _candidates(text, digits)
    if len(candidates) > 1:
        candidates = _longest_first(candidates)
    phones = list(_PHONE.finditer(text)) if digits >= 9 or (digits >= 4 and "+" in text) else []
    if not phones:
        return candidates
    chosen = _Spans(candidates)
    for m in phones:
        phone = Match("phone", m.start(), m.end(), m.group())
        if chosen.is_free(phone) and _is_phone(phone.value):
            chosen.add_if_free(phone)
    return chosen.matches


def _longest_first(candidates: list[Match]) -> list[Match]:
    chosen = _Spans()
    for match in sorted(candidates, key=_precedence):
        chosen.add_if_free(match)
    return chosen.matches


def _precedence(match: Match) -> tuple[int, int, int]:
    return match.start - match.end, _RANK[match.kind], match.start


def _digit_count(text: str) -> int:
    """How many digits ``text`` holds; for non-ASCII text, whose other digits the patterns match too, its length."""
    return len(text) - len(text.translate(_WITHOUT_DIGITS)) if text.isascii() else len(text)


def _candidates(text: str, digits: int) -> list[Match]:
    """Validated matches of every kind but phone, overlapping; each detector runs only if its trigger is there.

    Most strings in a result are words, ids and dates that no detector matches. Each trigger is a C-speed test
    that every match of the pattern passes (an ``@``, a digit count, a capital letter, colons, a length), and
    costs a fraction of calling a detector that finds nothing.
    """
    found: list[Match] = []
    length = len(text)
    if "@" in text:
        found += _emails(text)
    if digits:
        if digits >= 13:
            found += _cards(text)
        if length >= 9 and text != text.lower():  # IBANs and NI numbers start with two capitals
            if length >= 15:
                found += _ibans(text)
            if digits >= 6:
                found += _ni_numbers(text)
        if digits >= 4 and text.count(".") >= 3:
            found += _ips(_IPV4, text)
    if "::" in text or text.count(":") >= 6:  # valid IPv6 has "::" or 7 colons (6 before an IPv4 tail)
        found += _ips(_IPV6, text)
    if length >= _SECRET_MIN_LENGTH and _SECRET_HINT.search(text):
        found += _secrets(text)
    return found


class _Spans:
    """Non-overlapping matches kept sorted by start, so an overlap check is a bisection."""

    def __init__(self, matches: Sequence[Match] = ()) -> None:
        """Start from ``matches``, which must be sorted and non-overlapping already."""
        self.starts = [match.start for match in matches]
        self.matches = list(matches)

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


def _emails(text: str) -> list[Match]:
    at = text.find("@")
    if at < 0:
        return []
    # An address holds no space, so none starts before the last space ahead of the first "@".
    start = text.rfind(" ", 0, at) + 1
    return [Match("email", m.start(), m.end(), m.group()) for m in _EMAIL.finditer(text, start)]


def _cards(text: str) -> list[Match]:
    found = []
    for m in _CARD.finditer(text):
        digits = m.group().replace(" ", "").replace("-", "")
        if len(set(digits)) > 1 and luhn_valid(digits):
            found.append(Match("card", m.start(), m.end(), m.group()))
    return found


def luhn_valid(digits: str) -> bool:
    """Return whether a string of ASCII digits passes the Luhn (mod 10) check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _ibans(text: str) -> list[Match]:
    found = []
    for m in _IBAN.finditer(text):
        length = _IBAN_LENGTHS.get(text[m.start() : m.start() + 2])
        if length is None:
            continue
        # The greedy pattern may run into a following upper-case word; the country's length says where it ends.
        exact = _IBAN_OF_LENGTH[length].match(text, m.start())
        if exact is None or (exact.end() < len(text) and text[exact.end()].isalnum()):
            continue
        value = exact.group()
        if iban_valid(value.replace(" ", "")):
            found.append(Match("iban", m.start(), exact.end(), value))
    return found


def iban_valid(compact: str) -> bool:
    """Return whether an IBAN without spaces has its country's length and passes ISO 7064 mod-97."""
    if _IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    return int((compact[4:] + compact[:4]).translate(_IBAN_LETTER_VALUES)) % 97 == 1


def _ni_numbers(text: str) -> list[Match]:
    return [
        Match("ni_number", m.start(), m.end(), m.group())
        for m in _NI_NUMBER.finditer(text)
        if m.group(1) not in _NI_UNALLOCATED
    ]


def _ips(pattern: re.Pattern[str], text: str) -> list[Match]:
    found = []
    for m in pattern.finditer(text):
        value = m.group()
        try:
            ipaddress.ip_address(value)
        except ValueError:
            continue
        found.append(Match("ip", m.start(), m.end(), value))
    return found


def _secrets(text: str) -> list[Match]:
    found = []
    for m in _SECRET.finditer(text):
        kind = m.lastgroup
        value = m.group()
        if kind in _NEEDS_MIXED_BODY and not _looks_random(value[_NEEDS_MIXED_BODY[kind] :]):
            continue
        found.append(Match("secret", m.start(), m.end(), value))
    return found


def _looks_random(body: str) -> bool:
    return any(c.isdigit() for c in body) and any(c.isupper() for c in body) and any(c.islower() for c in body)


@functools.lru_cache(maxsize=_PHONE_CACHE_SIZE)
def _is_phone(candidate: str) -> bool:
    # A leading "+" carries its own country code; a trunk "0" is the UK form; anything else is read as NANP.
    default_region = "GB" if candidate.startswith(("+", "0", "(0")) else "US"
    try:
        number = phonenumbers.parse(candidate, default_region)
    except phonenumbers.NumberParseException:
        return False
    shortcut = _shortcut_region(number.country_code)
    if shortcut is None:
        return bool(phonenumbers.is_valid_number(number))
    main_region, decides = shortcut
    if phonenumbers.is_valid_number_for_region(number, main_region):
        return True
    return not decides and bool(phonenumbers.is_valid_number(number))


@functools.cache  # keyed by country calling codes: at most 999 entries
def _shortcut_region(country_code: int) -> tuple[str, bool] | None:
    """The region whose pattern check gives ``is_valid_number``'s verdict in one match instead of two, if any.

    ``is_valid_number`` first picks the number's region, trying its country code's regions in order (main region
    first, accepting one either by its leading digits or by a full pattern match), then matches the number again
    for that region. With one region the second match alone is the verdict (``decides``). With several, a main
    region that has no leading-digits rule is picked exactly when its pattern matches, so a match there is already
    the verdict and only a miss needs the full search. A main region with a leading-digits rule has no shortcut.
    """
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
    if len(regions) == 1:
        return regions[0], True
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(regions[0]) if regions else None
    if metadata is None or metadata.leading_digits is not None:
        return None
    return regions[0], False
