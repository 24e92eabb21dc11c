"""Keeping large argument values out of audit rows while keeping them matchable."""

import hashlib

import pytest

from drawbridge.audit import digest, truncate, truncate_values

LONG = "x" * 300 + "tail"


def test_short_strings_are_kept_as_they_are() -> None:
    assert truncate("a" * 256) == "a" * 256


def test_long_string_becomes_prefix_ellipsis_and_digest_of_the_original() -> None:
    truncated = truncate(LONG)

    expected_digest = hashlib.sha256(LONG.encode()).hexdigest()
    assert truncated == "x" * 32 + "\u2026sha256:" + expected_digest
    assert len(truncated) <= 256


def test_truncating_twice_changes_nothing() -> None:
    once = truncate(LONG, max_chars=128, keep=8)
    assert truncate(once, max_chars=128, keep=8) == once


def test_nested_values_are_truncated_and_keys_and_other_types_kept() -> None:
    value = {"note": LONG, "items": [LONG, 7, None, {"deep": LONG}], "pair": ("ok", LONG), "paid": True}

    assert truncate_values(value) == {
        "note": truncate(LONG),
        "items": [truncate(LONG), 7, None, {"deep": truncate(LONG)}],
        "pair": ["ok", truncate(LONG)],
        "paid": True,
    }


def test_limit_too_small_for_the_digest_marker_is_refused() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        truncate("short", max_chars=80, keep=32)


def test_digest_of_text_is_sha256_of_its_utf8() -> None:
    assert digest("café") == hashlib.sha256("café".encode()).hexdigest()
    assert digest(b"\x00\x01") == hashlib.sha256(b"\x00\x01").hexdigest()
