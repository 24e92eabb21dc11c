"""Masking of tool results: JSON structures and free text.

Threat model: the masker sits between a tool and a caller whose role may not see some personal data. Whatever it
misses reaches the caller; whatever it logs or reports could leak too, so the :class:`MaskReport` carries counts
per kind and never a value, and nothing here logs.

A JSON value is walked recursively and rebuilt, never mutated: dict keys are kept as they are (they are schema,
not data), field rules named by path apply to the whole value under that path whatever it contains, and every
other string is scanned by the detectors. Numbers, booleans and ``null`` are not scanned: a JSON number that
happens to pass Luhn is far more often an id or an amount than a card, and a card number stored as a number must
be named by a field rule. The result has the same shape and stays JSON-serialisable.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from drawbridge.masking.detectors import KINDS, Kind, find
from drawbridge.masking.strategies import STRATEGIES, InvalidMaskingRule, Strategy, apply, bind, check_pseudonym_key

FIELD = "field"  # the report key for a value masked by a field rule that no detector recognises

DEFAULT_STRATEGIES: Mapping[Kind, Strategy] = MappingProxyType(
    {
        "email": "partial",
        "phone": "partial",
        "ni_number": "redact",
        "card": "partial",
        "iban": "partial",
        "ip": "redact",
        "secret": "redact",
    }
)


@dataclass(frozen=True)
class MaskingRules:
    """What to do with each detected kind and with named fields.

    Args:
        default: strategy per detected kind; kinds left out keep their :data:`DEFAULT_STRATEGIES` entry.
        fields: strategy per JSON path, such as ``"email"`` (a top-level key), ``"customer.email"`` or
            ``"items[].phone"`` (``[]`` steps into every element of a list; ``"[].email"`` when the root is a
            list). The strategy applies to every value under the path, detected or not; a deeper path overrides
            a shallower one. A field rule is an explicit operator decision and wins over ``unmasked``.
        pseudonym_key: the HMAC key for ``pseudonym``; required (at least 16 bytes) when any rule uses it.
        unmasked: detected kinds this caller may see in clear.

    Raises:
        InvalidMaskingRule: an unknown kind, strategy or malformed path, or ``pseudonym`` without a key.
    """

    default: Mapping[Kind, Strategy] = field(default_factory=dict)
    fields: Mapping[str, Strategy] = field(default_factory=dict)
    pseudonym_key: bytes | None = field(default=None, repr=False)
    unmasked: frozenset[Kind] = frozenset()

    def __post_init__(self) -> None:
        unknown_kinds = (set(self.default) | set(self.unmasked)) - set(KINDS)
        if unknown_kinds:
            raise InvalidMaskingRule(f"unknown masking kinds: {sorted(unknown_kinds)}")
        strategies = set(self.default.values()) | set(self.fields.values())
        if strategies - set(STRATEGIES):
            raise InvalidMaskingRule(f"unknown masking strategies: {sorted(strategies - set(STRATEGIES))}")
        object.__setattr__(self, "default", MappingProxyType({**DEFAULT_STRATEGIES, **self.default}))
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))
        if self.pseudonym_key is not None or "pseudonym" in strategies:
            check_pseudonym_key(self.pseudonym_key)
        for path in self.fields:
            _parse_path(path)


@dataclass(frozen=True)
class MaskReport:
    """How many values of each kind were masked, for audit. It never holds a value."""

    counts: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def total(self) -> int:
        """All masked values."""
        return sum(self.counts.values())

    def merged(self, other: MaskReport) -> MaskReport:
        """The counts of both reports, as when a result's text and structured content are masked separately."""
        return MaskReport(MappingProxyType(dict(Counter(self.counts) + Counter(other.counts))))


@dataclass
class _PathNode:
    strategy: Strategy | None = None
    children: dict[str, _PathNode] = field(default_factory=dict)


class Masker:
    """Mask JSON values and text according to :class:`MaskingRules`. Stateless and safe to share."""

    def __init__(self, rules: MaskingRules) -> None:
        self._rules = rules
        # What each detected kind becomes for this caller; a kind left out is shown in clear.
        self._conceal: dict[str, Callable[[str], str]] = {
            kind: bind(strategy, kind, rules.pseudonym_key)
            for kind, strategy in rules.default.items()
            if strategy != "keep" and kind not in rules.unmasked
        }
        self._root = _PathNode()
        for path, strategy in rules.fields.items():
            node = self._root
            for step in _parse_path(path):
                node = node.children.setdefault(step, _PathNode())
            node.strategy = strategy

    def mask_text(self, text: str) -> tuple[str, MaskReport]:
        """Return ``text`` with every detected value masked, and the counts per kind."""
        counts: Counter[str] = Counter()
        return self._mask_string(text, counts), _report(counts)

    def mask_json(self, data: Any) -> tuple[Any, MaskReport]:
        """Return a masked copy of a JSON value (dicts, lists, strings, numbers, booleans, ``None``).

        Field rules apply by path; every other string is scanned. ``data`` itself is not modified. Other
        objects (models, dates) pass through unscanned: dump them to JSON values first.
        """
        counts: Counter[str] = Counter()
        root = self._root if self._root.children else None
        return self._walk(data, root, None, counts), _report(counts)

    def _walk(self, value: Any, node: _PathNode | None, strategy: Strategy | None, counts: Counter[str]) -> Any:
        if node is None and strategy is None:
            return self._scan(value, counts)
        if isinstance(value, Mapping):
            return {k: self._walk(v, *_step(node, k, strategy), counts) for k, v in value.items()}
        if isinstance(value, list | tuple):
            child, child_strategy = _step(node, "[]", strategy)
            return type(value)(self._walk(v, child, child_strategy, counts) for v in value)
        if strategy is not None:
            return self._mask_field(value, strategy, counts)
        if isinstance(value, str):
            return self._mask_string(value, counts)
        return value

    def _scan(self, value: Any, counts: Counter[str]) -> Any:
        """:meth:`_walk` below every field rule, where only detection applies: most of a result, so kept lean."""
        if isinstance(value, str):
            return self._mask_string(value, counts)
        if isinstance(value, Mapping):
            return {k: self._scan(v, counts) for k, v in value.items()}
        if type(value) is list:
            return [self._scan(v, counts) for v in value]
        if isinstance(value, list | tuple):
            return type(value)(self._scan(v, counts) for v in value)
        return value

    def _mask_string(self, text: str, counts: Counter[str]) -> str:
        matches = find(text)
        if not matches:
            return text
        pieces: list[str] = []
        cursor = 0
        for match in matches:
            conceal = self._conceal.get(match.kind)
            if conceal is None:
                continue
            pieces.append(text[cursor : match.start])
            pieces.append(conceal(match.value))
            cursor = match.end
            counts[match.kind] += 1
        pieces.append(text[cursor:])
        return "".join(pieces)

    def _mask_field(self, value: Any, strategy: Strategy, counts: Counter[str]) -> Any:
        if value is None or strategy == "keep":
            return value
        text = value if isinstance(value, str) else json.dumps(value) if isinstance(value, bool) else str(value)
        kind = _whole_kind(text)
        counts[kind] += 1
        return apply(strategy, text, kind, self._rules.pseudonym_key)


def _step(node: _PathNode | None, key: object, inherited: Strategy | None) -> tuple[_PathNode | None, Strategy | None]:
    """Descend one step: the child's rule node, and the strategy in force there (the deepest rule wins)."""
    child = node.children.get(key) if node is not None and isinstance(key, str) else None
    if child is not None and child.strategy is not None:
        return child, child.strategy
    return child, inherited


def _whole_kind(text: str) -> str:
    """The detected kind when one detection covers the whole (stripped) value, so ``[email]`` beats ``[field]``."""
    stripped = text.strip()
    matches = find(stripped)
    if len(matches) == 1 and matches[0].start == 0 and matches[0].end == len(stripped):
        return matches[0].kind
    return FIELD


def _parse_path(path: str) -> list[str]:
    """Split ``"items[].phone"`` into ``["items", "[]", "phone"]``."""
    steps: list[str] = []
    for part in path.split("."):
        name = part
        lists = 0
        while name.endswith("[]"):
            name = name[:-2]
            lists += 1
        if not name and not (lists and not steps):
            raise InvalidMaskingRule(f"malformed field path: {path!r}")
        if name:
            steps.append(name)
        steps.extend(["[]"] * lists)
    return steps


def _report(counts: Counter[str]) -> MaskReport:
    return MaskReport(MappingProxyType(dict(counts)))
