"""Remember whether the authorization request named its redirect URI (OAuth 2.1 §4.1.3).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TABLES = ("authorization_requests", "authorization_codes")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("redirect_uri_given", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("redirect_uri_given")
