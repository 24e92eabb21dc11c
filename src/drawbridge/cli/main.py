"""Entry point of the ``drawbridge`` command."""

import typer

from drawbridge.cli.audit import audit_app
from drawbridge.cli.config import config_app
from drawbridge.cli.consents import consents_app
from drawbridge.cli.keys import keys_app
from drawbridge.cli.policy import policy_app
from drawbridge.cli.serve import serve
from drawbridge.cli.users import users_app

app = typer.Typer(
    name="drawbridge",
    help="Drawbridge: a secure platform for remote MCP servers (OAuth 2.1, policy, masking, audit).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("serve")(serve)
app.add_typer(config_app, name="config")
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
app.add_typer(consents_app, name="consents")
app.add_typer(policy_app, name="policy")
app.add_typer(audit_app, name="audit")


def main() -> None:
    """Run the CLI."""
    app()
