import copy
import json
from typing import Any

import pytest

from drawbridge.masking import FIELD, InvalidMaskingRule, Masker, MaskingRules, Strategy, partial, pseudonym

KEY = b"k" * 32
OTHER_KEY = b"o" * 32

ORDER: dict[str, Any] = {
    "order_id": "2026-000123",
    "customer": {"name": "Jane Doe", "email": "jane.doe@example.com", "phone": "+44 7911 123456"},
    "items": [
        {"sku": "A-1", "qty": 2, "note": "call 020 7946 0958 before delivery"},
        {"sku": "B-2", "qty": 1, "note": None},
    ],
    "payment": {"card": "4242 4242 4242 4242", "iban": "GB82 WEST 1234 5698 7654 32", "amount": 4242424242424242},
    "ni": "AB 12 34 56 C",
    "client_ip": "203.0.113.7",
    "paid": True,
}


def test_nested_json_is_masked_and_keeps_its_shape() -> None:
    original = copy.deepcopy(ORDER)
    masked, report = Masker(MaskingRules()).mask_json(ORDER)
    assert original == ORDER
    assert masked == {
        "order_id": "2026-000123",
        "customer": {"name": "Jane Doe", "email": "j***@example.com", "phone": "+** **** ***456"},
        "items": [
            {"sku": "A-1", "qty": 2, "note": "call *** **** *958 before delivery"},
            {"sku": "B-2", "qty": 1, "note": None},
        ],
        "payment": {"card": "**** **** **** 4242", "iban": "GB****************5432", "amount": 4242424242424242},
        "ni": "[ni_number]",
        "client_ip": "[ip]",
        "paid": True,
    }
    assert json.loads(json.dumps(masked)) == masked
    assert dict(report.counts) == {"email": 1, "phone": 2, "card": 1, "iban": 1, "ni_number": 1, "ip": 1}
    assert report.total == 7


def test_report_holds_counts_and_no_values() -> None:
    _, report = Masker(MaskingRules()).mask_json(ORDER)
    dumped = repr(report) + json.dumps(dict(report.counts))
    for secret in ("jane", "7911", "4242", "WEST", "AB 12", "203.0"):
        assert secret not in dumped


@pytest.mark.parametrize(
    ("path", "data", "expected", "counted"),
    [
        ("customer.name", {"customer": {"name": "Jane Doe"}}, {"customer": {"name": "[field]"}}, FIELD),
        ("items[].sku", {"items": [{"sku": "A-1"}, {"sku": "B-2"}]}, {"items": [{"sku": "[field]"}] * 2}, FIELD),
        ("[].email", [{"email": "jane@example.com"}], [{"email": "[email]"}], "email"),
        ("account", {"account": 4242424242424242}, {"account": "[card]"}, "card"),
        (
            "customer",
            {"customer": {"name": "Jane", "age": 40}},
            {"customer": {"name": "[field]", "age": "[field]"}},
            FIELD,
        ),
    ],
)
def test_field_rule_applies_to_the_whole_value_by_path(path: str, data: Any, expected: Any, counted: str) -> None:
    masked, report = Masker(MaskingRules(fields={path: "redact"})).mask_json(data)
    assert masked == expected
    assert counted in report.counts


def test_deeper_field_rule_overrides_a_shallower_one() -> None:
    rules = MaskingRules(fields={"customer": "redact", "customer.email": "partial"})
    masked, _ = Masker(rules).mask_json({"customer": {"name": "Jane", "email": "jane@example.com"}})
    assert masked == {"customer": {"name": "[field]", "email": "j***@example.com"}}


def test_keep_field_rule_stops_scanning_under_its_path() -> None:
    rules = MaskingRules(fields={"reference": "keep"})
    masked, report = Masker(rules).mask_json({"reference": "4242 4242 4242 4242", "other": "4242 4242 4242 4242"})
    assert masked == {"reference": "4242 4242 4242 4242", "other": "**** **** **** 4242"}
    assert dict(report.counts) == {"card": 1}


def test_numbers_are_not_scanned_without_a_field_rule() -> None:
    masked, report = Masker(MaskingRules()).mask_json({"amount": 4242424242424242, "ratio": 0.5})
    assert masked == {"amount": 4242424242424242, "ratio": 0.5}
    assert report.total == 0


def test_keys_are_never_masked() -> None:
    masked, _ = Masker(MaskingRules()).mask_json({"jane@example.com": "jane@example.com"})
    assert masked == {"jane@example.com": "j***@example.com"}


def test_text_masking_inside_a_sentence() -> None:
    text = "Jane (jane@example.com, AB123456C) paid with 4242-4242-4242-4242 from 2001:db8::1."
    masked, report = Masker(MaskingRules()).mask_text(text)
    assert masked == "Jane (j***@example.com, [ni_number]) paid with **** **** **** 4242 from [ip]."
    assert dict(report.counts) == {"email": 1, "ni_number": 1, "card": 1, "ip": 1}


def test_unmasked_kinds_are_left_in_clear_and_not_counted() -> None:
    rules = MaskingRules(unmasked=frozenset({"email", "phone"}))
    masked, report = Masker(rules).mask_text("jane@example.com +44 7911 123456 AB123456C")
    assert masked == "jane@example.com +44 7911 123456 [ni_number]"
    assert dict(report.counts) == {"ni_number": 1}


def test_default_strategy_can_be_overridden_per_kind() -> None:
    rules = MaskingRules(default={"email": "redact", "card": "keep"})
    masked, _ = Masker(rules).mask_text("jane@example.com 4242424242424242 AB123456C")
    assert masked == "[email] 4242424242424242 [ni_number]"


def test_pseudonyms_are_stable_per_key_and_differ_across_keys() -> None:
    rules = MaskingRules(default={"email": "pseudonym"}, pseudonym_key=KEY)
    first, _ = Masker(rules).mask_text("jane@example.com")
    again, _ = Masker(rules).mask_text("JANE@example.com")
    other, _ = Masker(MaskingRules(default={"email": "pseudonym"}, pseudonym_key=OTHER_KEY)).mask_text(
        "jane@example.com"
    )
    assert first == again
    assert first != other
    assert first.startswith("email_")
    assert "jane" not in first


def test_pseudonym_ignores_spelling_variants_and_separates_kinds() -> None:
    assert pseudonym("4242 4242 4242 4242", KEY, "card") == pseudonym("4242-4242-4242-4242", KEY, "card")
    assert pseudonym("4242424242424242", KEY, "card")[5:] != pseudonym("4242424242424242", KEY, "phone")[6:]


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("email", "jane.doe@example.com", "j***@example.com"),
        ("card", "378282246310005", "**** **** **** 0005"),
        ("phone", "020 7946 0958", "*** **** *958"),
        ("ni_number", "ab123456c", "AB ** ** ** C"),
        ("iban", "DE89 3704 0044 0532 0130 00", "DE****************3000"),
        ("ip", "203.0.113.7", "203.0.113.*"),
        ("ip", "2001:db8::1", "2001:0db8:0000::*"),
        ("secret", "sk-proj-Ab3dEf9hIjKlMnOpQrStUv", "sk-***"),
        (FIELD, "Jane Doe", "J***"),
        (FIELD, "Al", "***"),
    ],
)
def test_partial_keeps_only_the_documented_part(kind: str, value: str, expected: str) -> None:
    assert partial(value, kind) == expected


@pytest.mark.parametrize(
    "rules",
    [
        lambda: MaskingRules(default={"email": "pseudonym"}),
        lambda: MaskingRules(fields={"email": "pseudonym"}, pseudonym_key=b"short"),
        lambda: MaskingRules(default={"email": "shout"}),  # type: ignore[dict-item]
        lambda: MaskingRules(default={"passport": "redact"}),  # type: ignore[dict-item]
        lambda: MaskingRules(fields={"a..b": "redact"}),
        lambda: MaskingRules(fields={"": "redact"}),
    ],
)
def test_invalid_rules_are_refused_at_construction(rules: Any) -> None:
    with pytest.raises(InvalidMaskingRule):
        rules()


def test_rules_are_immutable() -> None:
    rules = MaskingRules(fields={"email": "redact"})
    assert isinstance(rules.fields, type(rules.default))
    with pytest.raises(TypeError):
        rules.fields["phone"] = "redact"  # type: ignore[index]


def test_tuples_are_walked_like_lists() -> None:
    masked, _ = Masker(MaskingRules()).mask_json(("jane@example.com",))
    assert masked == ("j***@example.com",)


STRATEGY_CASES: list[Strategy] = ["redact", "partial", "pseudonym", "keep"]


@pytest.mark.parametrize("strategy", STRATEGY_CASES)
def test_every_strategy_keeps_json_serialisable(strategy: Strategy) -> None:
    rules = MaskingRules(
        default=dict.fromkeys(("email", "phone", "card", "iban", "ni_number", "ip", "secret"), strategy),
        fields={"payment.amount": strategy},
        pseudonym_key=KEY,
    )
    masked, _ = Masker(rules).mask_json(ORDER)
    assert json.loads(json.dumps(masked)).keys() == ORDER.keys()


def test_values_beside_and_below_field_rules_are_still_scanned() -> None:
    rules = MaskingRules(fields={"customer.name": "redact", "items[].sku": "keep"})
    data = {
        "customer": {"name": "Jane Doe", "email": "jane@example.com", "tags": ["vip", "+44 7911 123456"]},
        "items": [{"sku": "4242 4242 4242 4242", "note": "call 020 7946 0958"}],
        "notes": ("AB123456C", 4242424242424242),
    }
    masked, report = Masker(rules).mask_json(data)
    assert masked == {
        "customer": {"name": "[field]", "email": "j***@example.com", "tags": ["vip", "+** **** ***456"]},
        "items": [{"sku": "4242 4242 4242 4242", "note": "call *** **** *958"}],
        "notes": ("[ni_number]", 4242424242424242),
    }
    assert dict(report.counts) == {FIELD: 1, "email": 1, "phone": 2, "ni_number": 1}


def test_kinds_kept_or_unmasked_are_neither_masked_nor_counted() -> None:
    rules = MaskingRules(default={"card": "keep", "email": "pseudonym"}, unmasked=frozenset({"ip"}), pseudonym_key=KEY)
    masked, report = Masker(rules).mask_text("jane@example.com 4242424242424242 203.0.113.7 AB123456C")
    assert masked == f"{pseudonym('jane@example.com', KEY, 'email')} 4242424242424242 203.0.113.7 [ni_number]"
    assert dict(report.counts) == {"email": 1, "ni_number": 1}
