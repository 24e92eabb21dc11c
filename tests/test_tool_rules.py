"""The tool-author API refuses badly designed tools at definition time (flat, closed, bounded, described inputs;
declared outputs; explicit annotations; scopes), and accepts the shapes the rules allow."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from drawbridge.tools import (
    ResourceTemplate,
    Tool,
    ToolCall,
    ToolDefinitionError,
    Toolset,
    resource,
    tool,
)

DESCRIPTION = "Looks up one thing by id and returns its label. Read-only; changes nothing anywhere."


class Output(BaseModel):
    label: str


class Good(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_id: int = Field(ge=1, le=1000, description="The item.")


def define(input_model: Any = Good, output_model: Any = Output, **overrides: Any) -> Tool[Any, Any]:
    """Define a tool whose handler takes ``input_model`` and returns ``output_model``, with valid defaults."""

    async def handler(call: ToolCall, args: Any) -> Any:
        raise NotImplementedError

    handler.__annotations__ = {"call": ToolCall, "args": input_model, "return": output_model}
    options: dict[str, Any] = {
        "name": "lookup_thing",
        "title": "Look up a thing",
        "description": DESCRIPTION,
        "scopes": ("orders:read",),
        "read_only": True,
        "destructive": False,
        "idempotent": True,
        "open_world": False,
        **overrides,
    }
    return tool(**options)(handler)


def closed(**fields: tuple[Any, Any]) -> type[BaseModel]:
    """A closed (extra='forbid') input model with the given ``name=(annotation, Field(...))`` fields."""
    namespace: dict[str, Any] = {
        "__annotations__": {name: annotation for name, (annotation, _) in fields.items()},
        "model_config": ConfigDict(extra="forbid"),
        **{name: default for name, (_, default) in fields.items()},
    }
    return type("Args", (BaseModel,), namespace)


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Nested(BaseModel):
    model_config = ConfigDict(extra="forbid")
    x: int = Field(ge=0, le=1, description="x")


# --- accepted --------------------------------------------------------------------------------------------------


def test_a_well_formed_tool_is_accepted() -> None:
    defined = define()

    assert defined.name == "lookup_thing"
    assert defined.scopes == frozenset({"orders:read"})
    assert defined.input_schema()["additionalProperties"] is False
    assert defined.annotations.read_only_hint is True
    assert defined.annotations.destructive_hint is False


@pytest.mark.parametrize(
    "field",
    [
        (int | None, Field(default=None, ge=1, le=5, description="An optional bounded number.")),
        (float, Field(gt=0, lt=1, description="A bounded ratio.")),
        (str, Field(max_length=40, description="A bounded string.")),
        (str | None, Field(default=None, max_length=40, description="An optional bounded string.")),
        (bool, Field(description="A flag.")),
        (Literal["a", "b"], Field(description="A closed set.")),
        (Colour, Field(description="An enum.")),
        (list[Literal["a", "b"]], Field(max_length=2, description="A bounded list of a closed set.")),
        (list[Colour], Field(max_length=2, description="A bounded list of an enum.")),
    ],
    ids=[
        "optional-bounded-int",
        "bounded-float",
        "bounded-str",
        "optional-bounded-str",
        "bool",
        "literal",
        "enum",
        "list-of-literal",
        "list-of-enum",
    ],
)
def test_flat_bounded_fields_are_accepted(field: tuple[Any, Any]) -> None:
    defined = define(closed(value=field))

    assert "value" in defined.input_schema()["properties"]


def test_a_waived_unbounded_string_is_accepted() -> None:
    model = closed(query=(str, Field(description="Free text search.")))

    defined = define(model, waive={"query": "search needs free text; the backend escapes it"})

    assert defined.input_model is model


def test_a_64_character_name_is_accepted() -> None:
    assert define(name="a" * 64).name == "a" * 64


# --- refused: input model --------------------------------------------------------------------------------------


class Open(BaseModel):
    item_id: int = Field(ge=1, le=1000, description="The item.")


class Ignoring(BaseModel):
    model_config = ConfigDict(extra="ignore")
    item_id: int = Field(ge=1, le=1000, description="The item.")


@pytest.mark.parametrize("model", [Open, Ignoring], ids=["default-extra", "extra-ignore"])
def test_input_model_that_is_not_closed_is_refused(model: type[BaseModel]) -> None:
    with pytest.raises(ToolDefinitionError):
        define(model)


@pytest.mark.parametrize(
    "field",
    [
        (str, Field(description="Unbounded text.")),
        (str | None, Field(default=None, description="Unbounded optional text.")),
        (list[str], Field(max_length=3, description="A bounded list of unbounded strings.")),
        (list[Literal["a"]], Field(description="An unbounded list of a closed set.")),
        (int, Field(description="An unbounded number.")),
        (int, Field(ge=1, description="A number bounded below only.")),
        (int, Field(le=1, description="A number bounded above only.")),
        (float, Field(gt=0, description="A float bounded below only.")),
        (Nested, Field(description="A nested object.")),
        (list[Nested], Field(max_length=2, description="A list of nested objects.")),
        (dict[str, int], Field(description="A free-form mapping.")),
        (Any, Field(description="Anything at all.")),
        (int | str, Field(description="A union of several types.")),
        (bytes, Field(max_length=3, description="Raw bytes.")),
        (set[Literal["a"]], Field(max_length=1, description="A set.")),
    ],
    ids=[
        "unbounded-str",
        "optional-unbounded-str",
        "list-of-unbounded-str",
        "unbounded-list",
        "unbounded-int",
        "int-ge-only",
        "int-le-only",
        "float-gt-only",
        "nested-model",
        "list-of-nested-model",
        "dict",
        "any",
        "union",
        "bytes",
        "set",
    ],
)
def test_field_that_is_not_flat_and_bounded_is_refused(field: tuple[Any, Any]) -> None:
    with pytest.raises(ToolDefinitionError):
        define(closed(value=field))


@pytest.mark.parametrize("description", [None, "", "   "], ids=["none", "empty", "blank"])
def test_field_without_description_is_refused(description: str | None) -> None:
    with pytest.raises(ToolDefinitionError):
        define(closed(item_id=(int, Field(ge=1, le=5, description=description))))


# --- refused: the tool's declaration ---------------------------------------------------------------------------


@pytest.mark.parametrize("description", ["Looks up a thing.", "x" * 59, " " * 30 + "y" * 59 + " " * 30])
def test_short_description_is_refused(description: str) -> None:
    with pytest.raises(ToolDefinitionError):
        define(description=description)


def test_read_only_and_destructive_together_is_refused() -> None:
    with pytest.raises(ToolDefinitionError):
        define(read_only=True, destructive=True)


@pytest.mark.parametrize(
    "name", ["LookupThing", "lookup-thing", "lookup thing", "1lookup", "_lookup", "", "a" * 65, "lookup.thing"]
)
def test_bad_tool_name_is_refused(name: str) -> None:
    with pytest.raises(ToolDefinitionError):
        define(name=name)


@pytest.mark.parametrize("scopes", [(), ("",), ("orders read",), ("Orders:Read",), ("orders:read", " ")])
def test_missing_or_malformed_scopes_are_refused(scopes: tuple[str, ...]) -> None:
    with pytest.raises(ToolDefinitionError):
        define(scopes=scopes)


class Leaky(BaseModel):
    model_config = ConfigDict(extra="allow")
    label: str


def test_output_model_letting_undeclared_data_through_is_refused() -> None:
    with pytest.raises(ToolDefinitionError):
        define(output_model=Leaky)


@pytest.mark.parametrize(
    ("input_model", "output_model"),
    [(dict, Output), (dict[str, Any], Output), (int, Output), (Good, dict), (Good, None), (Good, Good(item_id=1))],
    ids=["dict-arg", "typed-dict-arg", "int-arg", "dict-return", "none-return", "instance-return"],
)
def test_handler_whose_types_are_not_pydantic_models_is_refused(input_model: Any, output_model: Any) -> None:
    with pytest.raises(ToolDefinitionError):
        define(input_model, output_model)


def test_handler_with_the_wrong_arity_is_refused() -> None:
    async def handler(args: Good) -> Output:
        raise NotImplementedError

    handler.__annotations__ = {"args": Good, "return": Output}
    options = {"scopes": ("orders:read",), "read_only": True, "destructive": False, "idempotent": True}

    with pytest.raises(ToolDefinitionError):
        tool(name="t", title="T", description=DESCRIPTION, open_world=False, **options)(handler)  # type: ignore[arg-type]


def test_handler_with_unresolvable_hints_is_refused() -> None:
    async def handler(call: ToolCall, args: Good) -> Output:
        raise NotImplementedError

    handler.__annotations__ = {"call": "ToolCall", "args": "NoSuchModel", "return": "Output"}

    with pytest.raises(ToolDefinitionError):
        tool(
            name="t",
            title="T",
            description=DESCRIPTION,
            scopes=("orders:read",),
            read_only=True,
            destructive=False,
            idempotent=True,
            open_world=False,
        )(handler)


# --- waivers ---------------------------------------------------------------------------------------------------


UNBOUNDED = closed(query=(str, Field(description="Free text search.")))


@pytest.mark.parametrize("reason", ["", "   "], ids=["empty", "blank"])
def test_waiver_without_a_reason_is_refused(reason: str) -> None:
    with pytest.raises(ToolDefinitionError):
        define(UNBOUNDED, waive={"query": reason})


def test_waiver_naming_an_unknown_field_is_refused() -> None:
    with pytest.raises(ToolDefinitionError):
        define(Good, waive={"qeury": "typo of the field it meant to waive"})


def test_waiver_covers_only_the_field_it_names() -> None:
    model = closed(
        query=(str, Field(description="Free text search.")),
        note=(str, Field(description="Unbounded and not waived.")),
    )

    with pytest.raises(ToolDefinitionError):
        define(model, waive={"query": "search needs free text"})


# --- resources and toolsets ------------------------------------------------------------------------------------


async def read(_call: ToolCall, _params: Mapping[str, str]) -> BaseModel:
    raise NotImplementedError


def define_resource(**overrides: Any) -> ResourceTemplate:
    options: dict[str, Any] = {
        "uri_template": "things://{thing_id}",
        "name": "thing",
        "title": "A thing",
        "description": "One thing as JSON, by id: the same data lookup_thing returns, for resource clients.",
        "scopes": ("orders:read",),
        **overrides,
    }
    return resource(**options)(read)


def test_a_well_formed_resource_is_accepted_and_matches_its_uris() -> None:
    template = define_resource()

    assert template.match("things://42") == {"thing_id": "42"}
    assert template.match("things://42/../1") is None
    assert template.match("other://42") is None


@pytest.mark.parametrize(
    "overrides",
    [{"description": "One thing."}, {"scopes": ()}, {"scopes": ("orders read",)}, {"scopes": ("",)}],
    ids=["short-description", "no-scopes", "scope-with-space", "empty-scope"],
)
def test_badly_declared_resource_is_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ToolDefinitionError):
        define_resource(**overrides)


def test_toolset_with_duplicate_tool_names_is_refused() -> None:
    with pytest.raises(ToolDefinitionError):
        Toolset(tools=(define(), define()))


def test_toolset_collects_every_scope() -> None:
    toolset = Toolset(
        tools=(define(), define(name="remove_thing", scopes=("orders:refund",), read_only=False, destructive=True)),
        resources=(define_resource(scopes=("customers:read",)),),
    )

    assert toolset.scopes() == frozenset({"orders:read", "orders:refund", "customers:read"})
    assert toolset.find("remove_thing") is not None
    assert toolset.find("missing") is None
