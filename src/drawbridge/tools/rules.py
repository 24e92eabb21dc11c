"""The schema rules every tool input model must satisfy (rule 2 of the five: constrain inputs at the schema level).

Threats: an agent (or a prompt injection steering it) passing unbounded text, nested free-form objects or
unexpected keys that the tool then forwards somewhere; tool poisoning through vague descriptions. So inputs are
flat, closed (``extra='forbid'``), and every field is an enum/Literal, a bool, a bounded number, or a bounded
string, with a description. A field that cannot follow the rules must be waived explicitly, with a reason.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from drawbridge.tools.errors import ToolDefinitionError

MIN_DESCRIPTION = 60


def check_input_model(tool: str, model: type[BaseModel], waivers: Mapping[str, str]) -> None:
    """Refuse an input model that is not flat, closed and bounded.

    Raises:
        ToolDefinitionError: naming the tool and the offending field.
    """
    if model.model_config.get("extra") != "forbid":
        raise ToolDefinitionError(f"tool {tool!r}: input model {model.__name__} must set extra='forbid'")
    for name, field in model.model_fields.items():
        if name in waivers:
            if not waivers[name].strip():
                raise ToolDefinitionError(f"tool {tool!r}: waiver for field {name!r} needs a reason")
            continue
        if not (field.description or "").strip():
            raise ToolDefinitionError(f"tool {tool!r}: field {name!r} needs a description")
        problem = _field_problem(field.annotation, field)
        if problem:
            raise ToolDefinitionError(f"tool {tool!r}: field {name!r} {problem} (or waive it with a reason)")
    unknown = set(waivers) - set(model.model_fields)
    if unknown:
        raise ToolDefinitionError(f"tool {tool!r}: waivers name unknown fields {sorted(unknown)}")


def check_output_model(tool: str, model: type[BaseModel]) -> None:
    """An output model must not let undeclared data through (rule 4: return only what the agent needs)."""
    if model.model_config.get("extra") == "allow":
        raise ToolDefinitionError(f"tool {tool!r}: output model {model.__name__} must not set extra='allow'")


def check_description(tool: str, description: str) -> None:
    """Descriptions are the agent's only guide and a defence against tool poisoning: they must say enough."""
    if len(description.strip()) < MIN_DESCRIPTION:
        raise ToolDefinitionError(
            f"tool {tool!r}: description too short ({len(description.strip())} < {MIN_DESCRIPTION} characters): "
            "say what it does, when to use it, what it returns and its limits"
        )


def _field_problem(annotation: Any, field: FieldInfo) -> str | None:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        non_none = [a for a in typing.get_args(annotation) if a is not type(None)]
        return "is a union of several types" if len(non_none) != 1 else _field_problem(non_none[0], field)
    if _is_closed_set(annotation) or annotation is bool:
        return None
    if annotation in (int, float):
        return None if _bounded(field, lower=True) and _bounded(field, lower=False) else "is a number without ge/le"
    if annotation is str:
        return None if _max_length(field) is not None else "is a string without max_length"
    if origin is list:
        return _list_problem(annotation, field)
    return f"has type {annotation!r}, which is not flat (enum, Literal, bool, bounded number or string)"


def _is_closed_set(annotation: Any) -> bool:
    return typing.get_origin(annotation) is Literal or (
        isinstance(annotation, type) and issubclass(annotation, enum.Enum)
    )


def _list_problem(annotation: Any, field: FieldInfo) -> str | None:
    if _max_length(field) is None:
        return "is a list without max_length"
    (item,) = typing.get_args(annotation) or (Any,)
    return None if _is_closed_set(item) else "is a list of something other than an enum or Literal"


def _bounded(field: FieldInfo, *, lower: bool) -> bool:
    kinds = (annotated_types.Ge, annotated_types.Gt) if lower else (annotated_types.Le, annotated_types.Lt)
    return any(isinstance(m, kinds) for m in field.metadata)


def _max_length(field: FieldInfo) -> int | None:
    for meta in field.metadata:
        if isinstance(meta, annotated_types.MaxLen):
            return int(meta.max_length)
    return None
