"""``drawbridge policy``: validate the access policies and explain what they decide, for operators.

``check`` asks the same questions the guard asks at run time, with the same inputs: the user's roles from the
directory, the client's verification (an https client_id is a verified CIMD client), the arguments validated
strictly against the tool's input model, and the target attributes the tool loads (the order's total and owner).
OAuth scopes are not part of it: they are checked before the policy, from the token.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from drawbridge.app import Components, build_components, start
from drawbridge.cli.options import ConfigFile, DataDir, Dev, fail, settings_from
from drawbridge.errors import DrawbridgeError
from drawbridge.guard.access import call_request, read_request, verified_client_id
from drawbridge.policy import CedarPolicyEngine, PolicyRequest
from drawbridge.tools import Caller

policy_app = typer.Typer(help="Validate access policies and explain their decisions.", no_args_is_help=True)


@policy_app.command("validate")
def validate(config: ConfigFile = None, data_dir: DataDir = None, dev: Dev = False) -> None:
    """Load and validate the policies against the toolset; print each problem with its file and line (exit 2)."""
    settings = settings_from(config, data_dir, server__dev=dev)
    components = _components(settings)
    try:
        if components.policy is None:
            fail("policy is disabled ([policy] enabled = false): nothing to validate")
        directory = settings.policy.directory or components.toolset.policy_directory
        typer.echo(f"ok: the policies in {directory} are valid for {len(components.toolset.tools)} tools")
    finally:
        asyncio.run(components.engine.dispose())


@policy_app.command("check")
def check(  # noqa: PLR0917 - typer maps each option to a parameter
    user: Annotated[str, typer.Option("--user", help="The user's login name.", show_default=False)],
    client: Annotated[str, typer.Option("--client", help="The OAuth client_id acting for them.", show_default=False)],
    tool: Annotated[str | None, typer.Option("--tool", help="The tool to call.", show_default=False)] = None,
    resource: Annotated[
        str | None, typer.Option("--resource", help="A resource URI to read instead.", show_default=False)
    ] = None,
    args: Annotated[str, typer.Option("--args", help="The call's arguments as a JSON object.")] = "{}",
    config: ConfigFile = None,
    data_dir: DataDir = None,
    dev: Dev = False,
) -> None:
    """Explain whether USER, through CLIENT, may call TOOL with ARGS (or read RESOURCE): exit 0 allowed, 1 denied."""
    if (tool is None) == (resource is None):
        fail("give exactly one of --tool and --resource")
    settings = settings_from(config, data_dir, server__dev=dev)
    components = _components(settings)
    policy = components.policy

    async def main() -> bool:
        try:
            if policy is None:
                fail("policy is disabled ([policy] enabled = false): every call is decided by OAuth scopes alone")
            await start(components)
            caller = await _caller(components, user, client)
            if tool is not None:
                return await _check_tool(components, policy, caller, tool, args)
            return await _check_resource(components, policy, caller, str(resource))
        finally:
            await components.engine.dispose()

    allowed = asyncio.run(main())
    raise typer.Exit(code=0 if allowed else 1)


async def _check_tool(components: Components, policy: CedarPolicyEngine, caller: Caller, name: str, raw: str) -> bool:
    found = components.toolset.find(name)
    if found is None:
        fail(f"no tool named {name!r}; tools: {', '.join(t.name for t in components.toolset.tools)}")
    try:
        arguments = json.loads(raw)
        validated = found.input_model.model_validate(arguments, strict=True)
    except ValueError as exc:  # ValidationError is a ValueError: both mean the guard would refuse the call
        detail = _validation_detail(exc) if isinstance(exc, ValidationError) else "--args is not valid JSON"
        fail(f"the guard would refuse these arguments before the policy: {detail}")
    request = await call_request(caller, found, validated)
    loaded = {k: v for k, v in request.attributes.items() if k not in type(validated).model_fields}
    return _report(policy, request, loaded)


async def _check_resource(components: Components, policy: CedarPolicyEngine, caller: Caller, uri: str) -> bool:
    for template in components.toolset.resources:
        values = template.match(uri)
        if values is not None:
            request = await read_request(caller, template, uri, values)
            return _report(policy, request, dict(request.attributes))
    fail(f"no resource template matches {uri!r}")


def _report(policy: CedarPolicyEngine, request: PolicyRequest, loaded: dict[str, Any]) -> bool:
    """Print the explanation; True when allowed."""
    typer.echo(policy.explain(request))
    facts = ", ".join(f"{k}={v!r}" for k, v in sorted(loaded.items())) or "none"
    typer.echo(f"Target attributes loaded: {facts}")
    unmasked = ", ".join(sorted(policy.unmasked(request.principal, request.client))) or "none"
    typer.echo(f"Personal data this caller sees in clear: {unmasked}")
    typer.echo("OAuth scopes are checked separately, from the token, before the policy.")
    return policy.decide(request).allowed


async def _caller(components: Components, username: str, client_id: str) -> Caller:
    found = next((u for u in await components.users.list_users() if u.username == username), None)
    if found is None:
        fail(f"no user named {username!r}")
    return Caller(
        subject=found.id,
        client_id=client_id,
        scopes=frozenset(),
        roles=found.roles,
        groups=found.groups,
        username=found.username,
        client_verified=verified_client_id(client_id),
    )


def _components(settings: Any) -> Components:
    try:
        return build_components(settings)
    except DrawbridgeError as exc:  # a policy that does not validate: every problem with its file and line
        fail(str(exc))


def _validation_detail(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()[:5])
