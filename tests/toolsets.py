"""Small toolsets for tests of the resource server and guard, independent of the demo's data."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from drawbridge.tools import ToolCall, ToolFailure, Toolset, ToolsetContext, resource, tool

ALLOW_ALL = Path(__file__).parent / "policies" / "basic"  # policies permitting every call, read and listing
WRITES: list[tuple[str, int, str]] = []  # what the destructive tool "did", per process


class LookupInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_id: int = Field(ge=1, le=1000, description="The item to look up, from 1 to 1000.")
    detail: Literal["short", "full"] = Field(default="short", description="How much to return.")


class LookupOutput(BaseModel):
    item_id: int
    label: str
    caller: str


class RemoveInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_id: int = Field(ge=1, le=1000, description="The item to remove, from 1 to 1000.")
    note: str = Field(max_length=20, description="Why the item is removed, at most 20 characters.")


class RemoveOutput(BaseModel):
    removed: int


@tool(
    name="lookup_item",
    title="Look up an item",
    description="Looks up one test item by id and returns its label. Use it to read an item; it changes nothing.",
    scopes=("orders:read",),
    read_only=True,
    destructive=False,
    idempotent=True,
    open_world=False,
)
async def lookup_item(call: ToolCall, args: LookupInput) -> LookupOutput:
    if args.item_id == 404:
        raise ToolFailure("item 404 not found")
    # The extra key is dropped by the output model: tools return only what they declare.
    return LookupOutput.model_validate(
        {"item_id": args.item_id, "label": f"item-{args.item_id}", "caller": call.caller.subject, "secret": "x"}
    )


@tool(
    name="remove_item",
    title="Remove an item",
    description="Removes one test item for good. Use only when asked to delete; it cannot be undone. Returns its id.",
    scopes=("orders:refund",),
    read_only=False,
    destructive=True,
    idempotent=False,
    open_world=False,
)
async def remove_item(call: ToolCall, args: RemoveInput) -> RemoveOutput:
    WRITES.append((call.caller.subject, args.item_id, args.note))
    return RemoveOutput(removed=args.item_id)


@resource(
    uri_template="items://{item_id}",
    name="item",
    title="An item",
    description="One test item as JSON, by id: the same data lookup_item returns, for clients that read resources.",
    scopes=("orders:read",),
)
async def read_item(call: ToolCall, params: Mapping[str, str]) -> LookupOutput:
    if params["item_id"] == "404":
        raise ToolFailure("item 404 not found")
    return LookupOutput(item_id=int(params["item_id"]), label=f"item-{params['item_id']}", caller=call.caller.subject)


def basic(_context: ToolsetContext) -> Toolset:
    return Toolset(
        tools=(lookup_item, remove_item),
        resources=(read_item,),
        instructions="Test items.",
        policy_directory=ALLOW_ALL,
    )
