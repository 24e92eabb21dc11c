"""Masking of personal data and secrets in tool results: detectors, strategies and the JSON/text masker.

Pure: no I/O, no settings, no logging. It imports only :mod:`drawbridge.errors` and third-party libraries.
"""

from drawbridge.masking.detectors import KINDS, Kind, Match, find
from drawbridge.masking.masker import DEFAULT_STRATEGIES, FIELD, Masker, MaskingRules, MaskReport
from drawbridge.masking.strategies import STRATEGIES, InvalidMaskingRule, Strategy, partial, pseudonym, redact

__all__ = [
    "DEFAULT_STRATEGIES",
    "FIELD",
    "KINDS",
    "STRATEGIES",
    "InvalidMaskingRule",
    "Kind",
    "MaskReport",
    "Masker",
    "MaskingRules",
    "Match",
    "Strategy",
    "find",
    "partial",
    "pseudonym",
    "redact",
]
