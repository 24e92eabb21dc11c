"""The schema, as SQLAlchemy Core tables. Alembic migrations under ``migrations/`` create it.

Timestamps are Unix seconds (floats) everywhere: one clock type, no timezone ambiguity across backends.
"""

from sqlalchemy import JSON, Boolean, Column, Float, ForeignKey, Index, LargeBinary, MetaData, String, Table, true

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

users = Table(
    "users",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("username", String(128), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("roles", JSON, nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", Float, nullable=False),
)

clients = Table(
    "clients",
    metadata,
    Column("client_id", String(255), primary_key=True),
    Column("metadata", JSON, nullable=False),  # the RFC 7591 client metadata as registered
    Column("secret_hash", String(255), nullable=True),  # confidential clients only; argon2
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float, nullable=True),
)
Index("ix_clients_created_at", clients.c.created_at)

login_sessions = Table(
    "login_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # SHA-256 of the cookie value; the value itself is never stored
    Column("user_id", String(64), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

authorization_requests = Table(
    "authorization_requests",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("client_id", String(2048), nullable=False),
    Column("redirect_uri", String(2048), nullable=False),
    Column("scope", String(1024), nullable=False),
    Column("state", String(1024), nullable=True),
    Column("code_challenge", String(128), nullable=False),
    Column("resource", String(2048), nullable=False),
    Column("expires_at", Float, nullable=False),
    # OAuth 2.1 §4.1.3: the token request must repeat redirect_uri only if the authorization request sent it.
    Column("redirect_uri_given", Boolean, nullable=False, server_default=true()),
)

authorization_codes = Table(
    "authorization_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("client_id", String(2048), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("redirect_uri", String(2048), nullable=False),
    Column("scope", String(1024), nullable=False),
    Column("resource", String(2048), nullable=False),
    Column("code_challenge", String(128), nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_at", Float, nullable=True),
    Column("family_id", String(64), nullable=True),  # the refresh family minted from it, revoked on replay
    Column("access_jti", String(64), nullable=True),  # the access token minted from it, revoked on replay
    Column("redirect_uri_given", Boolean, nullable=False, server_default=true()),
)

refresh_families = Table(
    "refresh_families",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("client_id", String(2048), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("family_id", String(64), ForeignKey("refresh_families.id", ondelete="CASCADE"), nullable=False),
    Column("scope", String(1024), nullable=False),
    Column("resource", String(2048), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_at", Float, nullable=True),
    # The access token issued alongside: revoking the family revokes it too (RFC 7009 §2.1).
    Column("access_jti", String(64), nullable=True),
)
Index("ix_refresh_tokens_family_id", refresh_tokens.c.family_id)

consents = Table(
    "consents",
    metadata,
    Column("user_id", String(64), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("client_id", String(2048), primary_key=True),
    Column("scope", String(1024), nullable=False),
    Column("granted_at", Float, nullable=False),
)

revoked_tokens = Table(
    "revoked_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("expires_at", Float, nullable=False),  # rows can go once the token would have expired anyway
)
