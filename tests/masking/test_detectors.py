import itertools

import pytest

from drawbridge.masking import Kind, find

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
