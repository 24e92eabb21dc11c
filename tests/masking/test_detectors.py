import itertools

import phonenumbers
import pytest

from drawbridge.masking import Kind, find
from drawbridge.masking.detectors import luhn_valid

TRUE_POSITIVES: list[tuple[Kind, str]] = [
    ("email", "jane.doe@example.com"),
    ("email", "j+tag@mail.example.co.uk"),
    ("phone", "+44 7911 123456"),
    ("phone", "020 7946 0958"),
    ("phone", "07911 123456"),
    ("phone", "(202) 555-0123"),
    ("phone", "+1 415 555 2671"),
    ("ni_number", "AB 12 34 56 C"),
    ("ni_number", "AB123456C"),
    ("card", "4242 4242 4242 4242"),
    ("card", "4242-4242-4242-4242"),
    ("card", "378282246310005"),
    ("iban", "GB82 WEST 1234 5698 7654 32"),
    ("iban", "DE89370400440532013000"),
    ("ip", "203.0.113.7"),
    ("ip", "2001:db8::1"),
    ("ip", "::ffff:192.0.2.1"),
    ("secret", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    ("secret", "sk-proj-Ab3dEf9hIjKlMnOpQrStUv"),
    ("secret", "ghp_" + "aB3" * 12),
    ("secret", "AKIAIOSFODNN7EXAMPLE"),
    ("secret", "xoxb-123456789012-AbCdEfGhIjKl"),
]


@pytest.mark.parametrize(("kind", "value"), TRUE_POSITIVES)
def test_detector_finds_value_alone_and_inside_a_sentence(kind: Kind, value: str) -> None:
    text = f"Please see {value}, thanks."
    matches = find(text)
    assert [(m.kind, m.value) for m in matches] == [(kind, value)]
    assert text[matches[0].start : matches[0].end] == value
    assert [(m.kind, m.value) for m in find(value)] == [(kind, value)]


LOOK_ALIKES = [
    "4242 4242 4242 4241",  # 16 digits failing Luhn
    "0000 0000 0000 0000",  # passes Luhn, but no card is all one digit
    "order 2026-000123",  # shaped like a phone number
    "ticket 123456",  # bare six-digit id
    "+44 7700 900123",  # Ofcom drama range: not a real number
    "QQ 12 34 56 C",  # QQ prefix is invalid
    "BG 12 34 56 C",  # BG is not allocated
    "AB 12 34 56 E",  # suffix beyond D
    "GB83 WEST 1234 5698 7654 32",  # bad IBAN check digits
    "GB82 WEST 1234 5698 7654",  # too short for GB
    "999.1.1.1",
    "10:30:45",
    "00:1A:2B:3C:4D:5E",  # MAC address
    "std::vector",
    "sk-1234",  # short sk- string
    "sk-learn-compatible-estimator-wrapper",  # prose with the prefix
    "jane.doe at example dot com",
    "version 2026-01-15T10:30:00Z",
]


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alike_is_not_detected(text: str) -> None:
    assert find(text) == []


def test_longest_match_wins_over_a_nested_one() -> None:
    matches = find("write to 07911123456@sms.example.com")
    assert [m.kind for m in matches] == ["email"]


def test_matches_are_ordered_and_non_overlapping() -> None:
    text = "a@example.com 4242424242424242 +44 7911 123456 AB123456C 203.0.113.7"
    matches = find(text)
    assert [m.kind for m in matches] == ["email", "card", "phone", "ni_number", "ip"]
    assert all(a.end <= b.start for a, b in itertools.pairwise(matches))


def test_iban_stops_at_its_registered_length_before_a_following_word() -> None:
    (match,) = find("GB82 WEST 1234 5698 7654 32 OK")
    assert match.value == "GB82 WEST 1234 5698 7654 32"


def test_match_repr_never_shows_the_value() -> None:
    (match,) = find("jane.doe@example.com")
    assert "jane" not in repr(match)


@pytest.mark.parametrize("text", ["", "short", "no personal data in this sentence at all"])
def test_text_without_candidates_gives_no_matches(text: str) -> None:
    assert find(text) == []


FULL_WIDTH_DIGITS = {c: c + 0xFEE0 for c in range(ord("0"), ord("9") + 1)}  # "7" -> U+FF17

# Detectors run only when C-speed tests that their patterns imply pass (a digit count, a "+", colons, capitals, an
# "@"), and phonenumbers is asked once per candidate text. Values right at those limits must still be found.
AT_THE_FAST_PATH_LIMITS: list[tuple[Kind, str]] = [
    ("phone", "+290 22158"),  # a "+" and only eight digits (Saint Helena)
    ("phone", "+44 (0)20 7946 0958"),
    ("phone", "+33 6 12 34 56 78"),
    ("phone", "+44 1534 456789"),  # Jersey: +44, but not a GB number
    ("phone", "07797 712345"),  # Jersey in the UK national form
    ("phone", "+1 204 234 5678"),  # Canada: +1, but not a US number
    ("phone", "(506) 234-5678"),  # Canada in the NANP national form
    ("phone", "+7 701 123 4567"),  # Kazakhstan: +7, whose main region (Russia) is picked by leading digits
    ("phone", "+44 7911 123456".translate(FULL_WIDTH_DIGITS)),  # the ASCII digit count does not apply
    ("ip", "1.2.3.4"),  # four digits
    ("ip", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"),  # eight groups and no "::"
    ("ip", "1:2:3:4:5:6:1.2.3.4"),  # six colons and an IPv4 tail
    ("card", "4222222222222"),  # thirteen digits
]


@pytest.mark.parametrize(("kind", "value"), AT_THE_FAST_PATH_LIMITS)
@pytest.mark.parametrize("template", ["{}", "Please see {}, thanks.", "Ticket 2026-000123:\n{}\nagent-17"])
def test_value_at_the_fast_path_limits_is_found_in_free_text(kind: Kind, value: str, template: str) -> None:
    text = template.format(value)
    assert [(m.kind, m.value) for m in find(text)] == [(kind, value)]


LOOK_ALIKES_AT_THE_LIMITS = [
    "call 555-0123",  # a local NANP number: seven digits, no area code
    "+44 12",  # a "+" and too few digits
    "0123 456",
    "BK-1001 and agent-17",
    "RM123456789GB",  # a parcel tracking number
    "422222222222",  # twelve digits
    "10:30:45 on 2026-01-15",
    "1:2:3:4:5:6:7",  # seven groups without "::"
    "a@b and c@d",  # "@" without a domain
    "+44 7700 900123 and again +44 7700 900123",  # one look-alike twice: its cached verdict still rejects it
]


@pytest.mark.parametrize("text", LOOK_ALIKES_AT_THE_LIMITS)
def test_look_alike_at_the_fast_path_limits_is_not_detected(text: str) -> None:
    assert find(text) == []


def test_repeated_phone_candidates_keep_their_verdicts() -> None:
    text = "+44 7911 123456, not +44 7700 900123"
    for _ in range(3):
        assert [(m.kind, m.value) for m in find(text)] == [("phone", "+44 7911 123456")]


def test_email_after_an_at_sign_that_starts_no_address_is_found() -> None:
    text = "ping @ops or a@b, then write to jane.doe@example.com"
    assert [(m.kind, m.value) for m in find(text)] == [("email", "jane.doe@example.com")]


@pytest.mark.parametrize("region", sorted(phonenumbers.SUPPORTED_REGIONS))
def test_phone_verdict_is_phonenumbers_verdict_in_every_region(region: str) -> None:
    example = phonenumbers.example_number(region)
    if example is None:
        pytest.skip(f"phonenumbers has no example number for {region}")
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    for number in (e164, e164[:-1], e164 + "0", e164[:-2] + "99"):
        digits = number[1:]
        if len(digits) >= 13 and luhn_valid(digits):
            continue  # the card detector rightly claims these first
        expected = phonenumbers.is_valid_number(phonenumbers.parse(number))
        assert [m.kind for m in find(f"call {number} now")] == (["phone"] if expected else [])
