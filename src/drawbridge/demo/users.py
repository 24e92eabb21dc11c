"""Demo users with fixed, published passwords: for ``--dev`` only.

These accounts exist so someone trying the demo can log in without creating users first. Their passwords are
in docs/demo.md for anyone to read, so the caller must create them only in a development server (``--dev``),
never in a deployment.
"""

from __future__ import annotations

from drawbridge.identity import UserDirectory, UserExists

DemoUser = tuple[str, str, tuple[str, ...]]

# (username, password, roles). alice supports customers; bob may also request refunds; thomas signs in as customer 3
# (Thomas Campbell) and may read his own orders and nobody else's (demo/seed.py ACCOUNTS, demo/policies).
DEMO_USERS: tuple[DemoUser, ...] = (
    ("alice", "alice-demo-password", ("support",)),
    ("bob", "bob-demo-password", ("support", "refunds")),
    ("thomas", "thomas-demo-password", ("customer",)),
)


async def ensure_demo_users(directory: UserDirectory) -> list[DemoUser]:
    """Create the demo users that do not exist yet, and return the ones created as (username, password, roles).

    Only call this when the server runs with ``--dev``: the passwords are public. An existing user of the same
    name is left alone (its password and roles are not reset).
    """
    existing = {user.username for user in await directory.list_users()}
    created: list[DemoUser] = []
    for username, password, roles in DEMO_USERS:
        if username in existing:
            continue
        try:
            await directory.add_user(username, password, roles)
        except UserExists:
            continue  # another process created it between our listing and our insert
        created.append((username, password, roles))
    return created
