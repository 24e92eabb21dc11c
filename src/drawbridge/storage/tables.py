"""The schema, as SQLAlchemy Core tables. Alembic migrations under ``migrations/`` create it.

Timestamps are Unix seconds (floats) everywhere: one clock type, no timezone ambiguity across backends.
"""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    true,
)

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
    Column("groups", JSON, nullable=False, server_default="[]"),
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

# The audit trail (drawbridge.audit, docs/audit.md): append-only rows, hash-chained per stream.
audit_events = Table(
    "audit_events",
    metadata,
    Column("stream", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),  # 1, 2, 3… per stream, no gaps
    Column("kind", String(64), nullable=False),
    Column("occurred_at", Float, nullable=False),
    Column("user_id", String(255), nullable=True),
    Column("username", String(255), nullable=True),
    Column("client_id", String(512), nullable=True),
    Column("client_kind", String(32), nullable=True),
    Column("session_id", String(255), nullable=True),
    Column("target", String(512), nullable=True),
    Column("arguments", JSON(none_as_null=True), nullable=True),  # masked and truncated by the caller
    Column("decision", String(16), nullable=True),
    Column("reason", String(1024), nullable=True),
    Column("outcome", String(16), nullable=False),
    Column("result_digest", String(64), nullable=True),
    Column("result_size", BigInteger, nullable=True),
    Column("latency_ms", Float, nullable=True),
    Column("trace_id", String(64), nullable=True),
    Column("detail", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),  # SHA-256 over every other column (drawbridge.audit.chain)
)
Index("ix_audit_events_occurred_at", audit_events.c.occurred_at)
Index("ix_audit_events_user_id", audit_events.c.user_id)
Index("ix_audit_events_username", audit_events.c.username)
Index("ix_audit_events_client_id", audit_events.c.client_id)
Index("ix_audit_events_target", audit_events.c.target)

# The newest row of each stream. Appends lock this row, so they are serialised per stream across processes, and a
# deleted tail is detectable (the head points past the last row).
audit_heads = Table(
    "audit_heads",
    metadata,
    Column("stream", String(64), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

# Where each retention purge cut a stream: verification resumes from the newest anchor instead of the genesis hash.
audit_anchors = Table(
    "audit_anchors",
    metadata,
    Column("stream", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),  # the last purged row
    Column("hash", String(64), nullable=False),  # and its hash, which the next row's prev_hash must equal
    Column("purged_at", Float, nullable=False),
    Column("older_than", Float, nullable=False),
    Column("purged_rows", BigInteger, nullable=False),
)
