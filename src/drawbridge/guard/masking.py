"""Masking what tools and resources return, per tool, before the agent sees it.

Field rules come from configuration keyed by tool (or resource template) name and JSON path; free text in every
string value is scanned too. The structured result and its text rendering are produced from the same masked data,
so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from drawbridge.masking import InvalidMaskingRule, Kind, Masker, MaskingRules, MaskReport, Strategy


class OutputMasking:
    """One masker per tool or resource name (its field rules), and one for everything else.

    Args:
        names: the tool and resource template names that exist (field rules naming others are refused).
        defaults: strategy per detected kind.
        fields: ``"name:path"`` -> strategy.
        pseudonym_key: key for the ``pseudonym`` strategy.

    Raises:
        InvalidMaskingRule: a rule names an unknown tool, kind, strategy or malformed path.
    """

    def __init__(
        self,
        names: Iterable[str],
        *,
        defaults: Mapping[str, str],
        fields: Mapping[str, str],
        pseudonym_key: bytes | None,
    ) -> None:
        known = set(names)
        per_name: dict[str, dict[str, Strategy]] = {}
        for key, strategy in fields.items():
            name, sep, path = key.partition(":")
            if not sep or name not in known:
                raise InvalidMaskingRule(f"masking field rule {key!r} must be 'tool_or_resource_name:path'")
            per_name.setdefault(name, {})[path] = cast(Strategy, strategy)
        self._defaults = cast(Mapping[Kind, Strategy], defaults)
        self._fields = per_name
        self._key = pseudonym_key
        self._maskers: dict[tuple[str | None, frozenset[str]], Masker] = {}
        self._masker(None, frozenset())  # bad defaults or a missing pseudonym key fail here, at start-up
        for name in per_name:
            self._masker(name, frozenset())

    def mask(self, name: str, data: Any, *, unmasked: frozenset[str] = frozenset()) -> tuple[Any, MaskReport]:
        """``data`` as the agent may see it, and what was masked (counts only).

        Args:
            unmasked: detected kinds this caller may see in clear (granted by policy); field rules still apply.
        """
        return self._masker(name if name in self._fields else None, unmasked).mask_json(data)

    def _masker(self, name: str | None, unmasked: frozenset[str]) -> Masker:
        # One masker per (rules, unmasked kinds): a handful of role combinations, built once each.
        key = (name, unmasked)
        masker = self._maskers.get(key)
        if masker is None:
            rules = MaskingRules(
                default=self._defaults,
                fields=self._fields.get(name, {}) if name else {},
                pseudonym_key=self._key,
                unmasked=cast(frozenset[Kind], unmasked),
            )
            masker = self._maskers[key] = Masker(rules)
        return masker
