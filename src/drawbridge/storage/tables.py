"""The schema, as SQLAlchemy Core tables. Alembic migrations under ``migrations/`` create it.

Timestamps are Unix seconds (floats) everywhere: one clock type, no timezone ambiguity across backends.
"""

from sqlalchemy import Boolean, Column, Float, Index, LargeBinary, MetaData, String, Table

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(128), primary_key=True),
    Column("algorithm", String(16), nullable=False),
    Column("private_key", LargeBinary, nullable=False),  # PKCS#8 PEM, encrypted when a key is configured
    Column("encrypted", Boolean, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("retired_at", Float, nullable=True),
)
Index("ix_signing_keys_created_at", signing_keys.c.created_at)
