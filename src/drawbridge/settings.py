"""Typed configuration, loaded from a TOML file, ``DRAWBRIDGE_*`` environment variables and CLI overrides.

Precedence, lowest first: built-in defaults, the TOML file, the environment, explicit overrides (CLI flags).
:func:`load_settings` is the only code that reads the environment; every component receives the
frozen section it needs. Unknown keys are errors, not silently ignored: a typo in a security setting
must not fall back to a default.

Environment variables name a section and a key separated by a double underscore, e.g.
``DRAWBRIDGE_SERVER__PORT=9000`` or ``DRAWBRIDGE_DATA_DIR=/var/lib/drawbridge``; list values are JSON.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from limits import parse
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from sqlalchemy.engine import make_url

from drawbridge.errors import ConfigError

ENV_PREFIX = "DRAWBRIDGE_"
CONFIG_ENV = "DRAWBRIDGE_CONFIG"
# Variables that share the prefix but are not settings: the config file path and the test suite's own knobs.
_RESERVED_ENV_PREFIXES = (CONFIG_ENV, "DRAWBRIDGE_TEST_")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Section):
    """Where and how the HTTP server listens, and the public URL clients reach it at."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_url: str | None = Field(
        default=None,
        description="External base URL (issuer and resource identifiers derive from it). Must be https outside --dev.",
    )
    dev: bool = Field(default=False, description="Local development: plain http on loopback, loopback client URLs.")
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    trusted_proxies: tuple[str, ...] = Field(
        default=(), description="Addresses whose X-Forwarded-* headers are believed."
    )
    max_body_bytes: int = Field(default=1_048_576, gt=0, description="Largest request body accepted.")
    max_header_bytes: int = Field(
        default=16_384, ge=1024, le=1_048_576, description="Largest request line plus headers (slow/huge headers)."
    )
    keep_alive_seconds: float = Field(default=5.0, gt=0, le=300, description="Idle keep-alive connections close.")
    freeze_startup_heap: bool = Field(
        default=True,
        description="Once started, exempt the start-up objects from garbage collection (gc.freeze): full "
        "collections then scan only what requests allocate, instead of pausing every request for ~100 ms.",
    )
    body_timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, description="A request body not fully received in this time is refused (408)."
    )
    max_connections: int | None = Field(
        default=None, ge=1, description="Concurrent connections before new ones get 503 (unset: unlimited)."
    )

    @model_validator(mode="after")
    def _tls_pair(self) -> ServerSettings:
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile must be given together")
        return self

    @property
    def tls(self) -> bool:
        return self.ssl_certfile is not None


class StorageSettings(_Section):
    """The database. Empty URL means a SQLite file under the data directory."""

    database_url: SecretStr | None = Field(
        default=None, description="sqlite+aiosqlite:///path or postgresql+asyncpg://user:pass@host/db"
    )
    schema_name: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="PostgreSQL schema")
    migrate_on_start: bool = True


class KeySettings(_Section):
    """Signing keys for access tokens."""

    algorithm: Literal["RS256", "ES256"] = "RS256"
    encryption_key: SecretStr | None = Field(
        default=None, description="Passphrase that encrypts private keys at rest (PKCS#8). Strongly recommended."
    )


class TokenSettings(_Section):
    """Lifetimes of what the authorization server issues, in seconds."""

    access_token_ttl: int = Field(default=600, gt=0, le=3600)
    refresh_token_ttl: int = Field(default=30 * 24 * 3600, gt=0)
    authorization_code_ttl: int = Field(default=60, gt=0, le=600)


class ClientMetadataSettings(_Section):
    """Client ID Metadata Documents: clients identified by an https URL whose document we fetch."""

    enabled: bool = True
    allow: tuple[str, ...] = Field(
        default=(), description="fnmatch patterns of client_id URLs to accept; empty accepts any https URL."
    )
    deny: tuple[str, ...] = Field(default=(), description="fnmatch patterns of client_id URLs to refuse (wins).")
    timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    max_bytes: int = Field(default=5120, gt=0, le=1_048_576)
    ca_bundle: Path | None = Field(default=None, description="PEM CAs to trust for fetching documents (private PKI).")
    min_cache_seconds: int = Field(default=60, ge=0)
    max_cache_seconds: int = Field(default=3600, ge=0)


class RegistrationSettings(_Section):
    """Dynamic Client Registration (RFC 7591)."""

    enabled: bool = True
    rate_limit: str = Field(default="10/minute", description="Registrations per source address (limits syntax).")
    unused_client_ttl: int = Field(
        default=7 * 24 * 3600, gt=0, description="Registrations never used for a token expire after this."
    )


class AuthServerSettings(_Section):
    """The embedded authorization server and the resource it protects."""

    resource_path: str = Field(default="/mcp", pattern=r"^/[A-Za-z0-9/_.-]*$")
    scopes: tuple[str, ...] | None = Field(
        default=None, description="Scopes this server grants; default: every scope the toolset's tools need."
    )
    default_scopes: tuple[str, ...] | None = Field(
        default=None,
        description="Granted when a client asks for none; default: the scopes of the toolset's read-only tools.",
    )
    scope_descriptions: dict[str, str] = Field(
        default={}, description="What each scope allows, for the consent page (added to the toolset's own)."
    )
    session_ttl: int = Field(default=8 * 3600, gt=0, description="Login session lifetime in seconds.")
    introspection_clients: tuple[str, ...] = Field(
        default=(),
        description="client_ids (e.g. external resource servers) that may introspect any token; when set, other "
        "confidential clients may introspect only their own. Empty: any confidential client may introspect any.",
    )
    authorization_request_ttl: int = Field(default=600, gt=0, le=3600)
    client_metadata: ClientMetadataSettings = ClientMetadataSettings()
    registration: RegistrationSettings = RegistrationSettings()

    @model_validator(mode="after")
    def _default_scopes_known(self) -> AuthServerSettings:
        if self.scopes is None or self.default_scopes is None:
            return self
        unknown = set(self.default_scopes) - set(self.scopes)
        if unknown:
            raise ValueError(f"default_scopes not in scopes: {sorted(unknown)}")
        return self


class McpSettings(_Section):
    """The MCP endpoint (resource server)."""

    toolset: str = Field(
        default="drawbridge.demo:toolset",
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="module:function returning the Toolset to serve.",
    )
    allowed_origins: tuple[str, ...] = Field(
        default=(), description="Browser origins (scheme://host[:port]) allowed to call /mcp (CORS and Origin check)."
    )
    allowed_hosts: tuple[str, ...] = Field(
        default=(), description="Extra Host header values accepted besides the public URL's (DNS-rebinding guard)."
    )
    stateless: bool = Field(default=False, description="No Mcp-Session-Id sessions (2025 clients then re-send state).")
    json_response: bool = Field(default=False, description="Answer with JSON instead of SSE streams.")
    revocation_check_seconds: float = Field(
        default=10.0, ge=0, le=300, description="Revoked access tokens are refused within this many seconds."
    )
    max_sessions: int = Field(default=1000, gt=0)
    session_idle_timeout: float = Field(default=1800, gt=0)


class DownstreamApi(_Section):
    """A downstream API the MCP server may call with an exchanged token (RFC 8693)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$", description="How tools refer to it.")
    identifier: str = Field(
        description="Its resource identifier (the exchanged token's aud); a path is relative to the public URL."
    )
    scopes: tuple[str, ...] = Field(min_length=1, description="Scopes a token for it may carry.")
    clients: tuple[str, ...] | None = Field(
        default=None, description="client_ids allowed to exchange for it; default: the MCP server's own client."
    )
    token_ttl: int = Field(default=300, gt=0, le=3600)


class ExchangeSettings(_Section):
    """Token exchange: the MCP server is a confidential client of the authorization server."""

    client_id: str = Field(default="drawbridge-mcp", pattern=r"^[A-Za-z0-9._:-]{1,128}$")
    client_secret: SecretStr | None = Field(
        default=None, description="The MCP server's client secret; generated per process when unset (one replica)."
    )
    token_endpoint: str | None = Field(default=None, description="Default: the embedded AS's /token.")
    apis: tuple[DownstreamApi, ...] = (
        DownstreamApi(name="payments", identifier="/demo/payments", scopes=("orders:refund",)),
    )


class StdioSettings(_Section):
    """Who the caller is in ``serve --stdio`` (a local, single-user process: there is no token)."""

    subject: str = "local-user"
    client_id: str = "stdio"
    scopes: tuple[str, ...] = ("orders:read",)
    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    username: str | None = None


class MaskingSettings(_Section):
    """PII masking of every tool result and resource read (docs/masking.md)."""

    enabled: bool = True
    pseudonym_key: SecretStr | None = Field(
        default=None, description="HMAC key (16+ bytes) for the pseudonym strategy: same value, same token."
    )
    defaults: dict[str, str] = Field(
        default={}, description="Strategy per detected kind (email, phone, ni_number, card, iban, ip, secret)."
    )
    fields: dict[str, str] = Field(
        default={},
        description='Strategy per output field: "tool_or_resource_name:json.path" = "redact|partial|pseudonym|keep".',
    )


RateStrategy = Literal["moving-window", "sliding-window-counter", "fixed-window"]
_RATE_FIELDS = ("mcp_per_user", "mcp_per_client", "token_per_address", "authorize_per_address", "login_per_address")


class RateLimitSettings(_Section):
    """Rate limits (docs/operations.md#rate-limits), in ``limits`` syntax: ``"600/minute"``, ``"10/second"``."""

    enabled: bool = True
    storage_url: str | None = Field(
        default=None,
        description="redis://host:port/db to share counters between replicas; unset keeps them in this process.",
    )
    strategy: RateStrategy = "moving-window"
    key_prefix: str = Field(
        default="drawbridge", pattern=r"^[A-Za-z0-9._:-]{1,64}$", description="Namespace of the counters in Redis."
    )
    mcp_per_user: str = Field(default="600/minute", description="MCP requests per user (token subject).")
    mcp_per_client: str = Field(
        default="6000/minute", description="MCP requests per client_id, all its users together."
    )
    token_per_address: str = Field(default="120/minute", description="POST /token per source address.")
    authorize_per_address: str = Field(default="120/minute", description="GET /authorize per source address.")
    login_per_address: str = Field(
        default="20/minute", description="Sign-in form posts per source address (credential stuffing)."
    )

    @model_validator(mode="after")
    def _rates_parse(self) -> RateLimitSettings:
        for name in _RATE_FIELDS:
            value = getattr(self, name)
            try:
                parse(value)
            except ValueError as exc:
                raise ValueError(f"{name}: {value!r} is not a rate such as '600/minute'") from exc
        if self.storage_url is not None and not self.storage_url.startswith(("redis://", "rediss://")):
            raise ValueError("storage_url must be a redis:// or rediss:// URL")
        return self


class PolicySettings(_Section):
    """Access policy (Cedar) on every tool call, resource read and listing (docs/policy.md)."""

    enabled: bool = Field(
        default=True, description="Off serves on OAuth scopes alone (logged loudly); never do this in production."
    )
    directory: Path | None = Field(
        default=None, description="Folder of *.cedar files; unset uses the toolset's own policies."
    )
    reload_seconds: float = Field(
        default=5.0, ge=0, description="How often to look for edited policy files; 0 turns hot reload off."
    )


class TelemetrySettings(_Section):
    """OpenTelemetry traces and metrics (docs/observability.md); both off by default."""

    tracing: bool = Field(default=False, description="Emit OpenTelemetry spans (HTTP, auth, policy, tool, exchange).")
    metrics: bool = Field(default=False, description="Record metrics and serve them at /metrics (Prometheus).")
    otlp_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP collector base URL, e.g. http://otel-collector:4318 (traces, metrics)."
    )
    service_name: str = "drawbridge"
    sample_ratio: float = Field(default=1.0, ge=0, le=1, description="Share of new traces kept (parent-based).")


class AuditSettings(_Section):
    """The audit trail (docs/audit.md)."""

    stream: str = Field(
        default="main",
        pattern=r"^[A-Za-z0-9._-]{1,64}$",
        description="The chain this process appends to; replicas may share one (appends lock its head) or each "
        "use their own to avoid waiting on each other.",
    )
    fail_closed: bool = Field(
        default=True,
        description="Refuse a request whose audit event cannot be written. false runs it unrecorded (logged loudly).",
    )
    max_batch: int = Field(default=100, ge=1, le=10_000, description="Most events committed in one transaction.")
    write_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="A batch not committed within this is reported unavailable."
    )
    max_value_chars: int = Field(
        default=256, ge=128, le=65_536, description="Argument strings longer than this are stored as prefix + digest."
    )
    retention_days: int = Field(default=365, ge=1, description="`drawbridge audit purge` deletes older events.")
    jsonl_path: Path | None = Field(
        default=None, description="Also append every committed event to this JSON-lines file (an off-database copy)."
    )
    otel_logs: bool = Field(
        default=False,
        description="Also export every committed event as an OpenTelemetry log record to [telemetry] otlp_endpoint.",
    )


class IdentitySettings(_Section):
    """The built-in user directory: argon2id parameters for new password hashes (RFC 9106 defaults)."""

    argon2_time_cost: int = Field(default=3, ge=1, le=20)
    argon2_memory_kib: int = Field(default=65536, ge=1024, le=4_194_304)
    argon2_parallelism: int = Field(default=4, ge=1, le=64)


class LoggingSettings(_Section):
    """Structured logs."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "console"] = "json"


class Settings(_Section):
    """Everything Drawbridge can be configured with."""

    data_dir: Path = Path("drawbridge-data")
    server: ServerSettings = ServerSettings()
    storage: StorageSettings = StorageSettings()
    keys: KeySettings = KeySettings()
    tokens: TokenSettings = TokenSettings()
    auth: AuthServerSettings = AuthServerSettings()
    mcp: McpSettings = McpSettings()
    stdio: StdioSettings = StdioSettings()
    exchange: ExchangeSettings = ExchangeSettings()
    identity: IdentitySettings = IdentitySettings()
    masking: MaskingSettings = MaskingSettings()
    policy: PolicySettings = PolicySettings()
    rate_limits: RateLimitSettings = RateLimitSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    audit: AuditSettings = AuditSettings()
    logging: LoggingSettings = LoggingSettings()

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL, defaulting to ``drawbridge.db`` in the data directory."""
        if self.storage.database_url is not None:
            return self.storage.database_url.get_secret_value()
        return f"sqlite+aiosqlite:///{(self.data_dir / 'drawbridge.db').resolve()}"

    @property
    def base_url(self) -> str:
        """The externally visible base URL, without a trailing slash."""
        if self.server.public_url:
            return self.server.public_url.rstrip("/")
        scheme = "https" if self.server.tls else "http"
        host = f"[{self.server.host}]" if ":" in self.server.host else self.server.host
        return f"{scheme}://{host}:{self.server.port}"

    @property
    def issuer(self) -> str:
        """The authorization server's issuer identifier (RFC 8414): the base URL, no trailing slash."""
        return self.base_url

    @property
    def resource_url(self) -> str:
        """The canonical URL of the protected MCP endpoint (RFC 8707 resource indicator)."""
        return self.base_url + self.auth.resource_path

    def api_identifier(self, api: DownstreamApi) -> str:
        """A downstream API's absolute identifier."""
        return self.base_url + api.identifier if api.identifier.startswith("/") else api.identifier

    @model_validator(mode="after")
    def _public_url_is_https_outside_dev(self) -> Settings:
        if not self.server.dev and not self.base_url.startswith("https://"):
            raise ValueError(
                "server.public_url must be an https URL (or serve TLS directly, or pass --dev for local http)"
            )
        return self


def load_settings(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the effective settings.

    Args:
        path: TOML file; when None, ``DRAWBRIDGE_CONFIG`` from ``environ`` names it, else no file is read.
        environ: the environment to read ``DRAWBRIDGE_*`` variables from (pass ``os.environ`` at the edge).
        overrides: nested values that win over everything, e.g. ``{"server": {"port": 9000}}``.

    Raises:
        ConfigError: one line that says what is wrong and where.
    """
    environ = environ or {}
    if path is None and environ.get(CONFIG_ENV):
        path = Path(environ[CONFIG_ENV])
    data: dict[str, Any] = _read_toml(path) if path is not None else {}
    _deep_merge(data, _from_environ(environ))
    _deep_merge(data, {k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from exc


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc


def _from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name.startswith(_RESERVED_ENV_PREFIXES):
            continue
        keys = name.removeprefix(ENV_PREFIX).lower().split("__")
        _deep_merge(found, _nest(keys, _parse_env_value(raw)))
    return found


def _parse_env_value(raw: str) -> Any:
    if raw.startswith(("[", "{")):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def _nest(keys: list[str], value: Any) -> dict[str, Any]:
    nested: Any = value
    for key in reversed(keys):
        nested = {key: nested}
    return dict(nested)


def _deep_merge(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        elif isinstance(value, Mapping):
            into[key] = dict(value)
        else:
            into[key] = value


def _describe(exc: ValidationError, path: Path | None) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "settings"
    message = "unknown setting" if error["type"] == "extra_forbidden" else error["msg"].removeprefix("Value error, ")
    source = f" (from {path} or DRAWBRIDGE_* environment)" if path else ""
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"invalid config: {where}: {message}{source}{more}"


def redacted(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, with every secret replaced by ``**********``."""
    dumped: dict[str, Any] = settings.model_dump(mode="json")  # SecretStr dumps as '**********'
    url = settings.storage.database_url
    if url is not None:
        dumped["storage"]["database_url"] = _redact_url_password(url.get_secret_value())
    dumped["effective"] = {"base_url": settings.base_url, "database_url": _redact_url_password(settings.database_url)}
    return dumped


def _redact_url_password(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
