"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document; MCP authorization 2026-07-28).

A client may use an https URL as its ``client_id``; its registration is the JSON document at that URL.
Threat model: the URL, and so the document, is chosen by whoever sends the authorization request.

- The fetch itself is the SSRF risk: it goes through :class:`drawbridge.ssrf.GuardedFetcher` (public addresses
  only, pinned, small, fast), and operators can narrow the URLs we fetch with ``allow``/``deny`` patterns.
- Impersonation: a document is trusted only for the URL it was served from. Its ``client_id`` must equal that URL
  exactly, the URL must be canonical enough that string equality means "same client" (no fragment, no
  userinfo, no dot segments, a non-root path), and only exact ``redirect_uris`` it lists are honoured, so codes
  reach only the domain that published the document.
- A URL-identified client is public: anyone can read its document, so it cannot hold a client secret. Documents
  that carry a secret or ask for secret-based authentication are refused rather than silently downgraded.
- Amplification: successful lookups are cached (``Cache-Control: max-age`` clamped to the configured bounds)
  in a bounded in-memory cache. Failures are not cached, so a publisher's transient outage never locks its users
  out; the cost of an attacker's repeated failing lookups is bounded by the fetcher's timeout and byte cap, and
  by the authorization endpoint's rate limit.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from drawbridge.auth_server.audit import AuthAudit
from drawbridge.clock import Clock
from drawbridge.errors import DrawbridgeError
from drawbridge.settings import ClientMetadataSettings
from drawbridge.ssrf import GuardedFetcher, SsrfError, SystemResolver

log = structlog.get_logger(__name__)

DEFAULT_CACHE_ENTRIES = 1024
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})

ClientMetadataReason = Literal[
    "disabled",
    "invalid_client_id_url",
    "not_allowed",
    "fetch_failed",
    "invalid_document",
    "client_id_mismatch",
]


class ClientMetadataError(DrawbridgeError):
    """A URL ``client_id`` cannot be resolved to a usable document; ``reason`` is a short machine code."""

    def __init__(self, reason: ClientMetadataReason, message: str) -> None:
        super().__init__(message)
        self.reason: ClientMetadataReason = reason


def is_client_id_url(client_id: str) -> bool:
    """Whether ``client_id`` names a metadata document rather than a registered client (the caller decides dev)."""
    return client_id.startswith(("https://", "http://"))


class ClientMetadataDocument(BaseModel):
    """The subset of RFC 7591 client metadata we act on; unknown members are ignored, as RFC 7591 §2 asks."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    client_id: str
    client_name: str = Field(min_length=1, max_length=200)
    redirect_uris: list[str] = Field(min_length=1)
    grant_types: list[Literal["authorization_code", "refresh_token"]] = ["authorization_code"]
    response_types: list[Literal["code"]] = ["code"]
    # A public document cannot keep a secret; private_key_jwt is not supported yet.
    token_endpoint_auth_method: Literal["none"] = "none"  # noqa: S105  # a method name, not a secret
    client_uri: str | None = None
    logo_uri: str | None = None
    policy_uri: str | None = None
    tos_uri: str | None = None
    scope: str | None = None
    application_type: Literal["web", "native"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_shared_secret(cls, data: Any) -> Any:
        # The draft forbids client_secret in a document: ignoring it would hide a client's misconfiguration.
        if isinstance(data, dict) and ({"client_secret", "client_secret_expires_at"} & data.keys()):
            raise ValueError("a client metadata document must not contain a client secret")
        return data

    @field_validator("redirect_uris")
    @classmethod
    def _redirect_uris_are_safe(cls, uris: list[str]) -> list[str]:
        for uri in uris:
            _check_redirect_uri_syntax(uri)
        return uris

    @field_validator("client_uri", "logo_uri", "policy_uri", "tos_uri")
    @classmethod
    def _web_links_only(cls, uri: str | None) -> str | None:
        # These are shown on the consent page: a javascript: or data: link there would be script injection.
        if uri is not None and not uri.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return uri


def _check_redirect_uri_syntax(uri: str) -> None:
    """OAuth 2.1 §2.3.1 + RFC 8252 §7.3: absolute, no userinfo or fragment, https or http on a loopback host."""
    parts = urlsplit(uri)
    if "#" in uri or not parts.hostname or "@" in parts.netloc:
        raise ValueError("redirect URIs must be absolute, without userinfo or fragment")
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS):
        return
    raise ValueError("redirect URIs must be https, or http on a loopback host")


def check_redirect_uri(document: ClientMetadataDocument, redirect_uri: str) -> bool:
    """Whether ``redirect_uri`` is one the document lists, compared as exact strings (OAuth 2.1 §2.3.1)."""
    return redirect_uri in document.redirect_uris


@dataclass(frozen=True, slots=True)
class _CacheEntry:
    document: ClientMetadataDocument
    expires_at: float


class ClientMetadataResolver:
    """Turns a URL ``client_id`` into its validated metadata document, with a bounded in-memory cache.

    Args:
        settings: the ``auth.client_metadata`` section: on/off, allow/deny patterns, cache bounds.
        fetcher: the SSRF-guarded fetcher, built with ``settings.timeout_seconds`` and ``settings.max_bytes``.
        clock: time source for cache expiry.
        dev: ``--dev`` only: also accept http client_id URLs on a loopback host.
        max_entries: cache size; the oldest entry is evicted beyond it.
    """

    def __init__(
        self,
        settings: ClientMetadataSettings,
        fetcher: GuardedFetcher,
        clock: Clock,
        *,
        dev: bool = False,
        max_entries: int = DEFAULT_CACHE_ENTRIES,
        audit: AuthAudit | None = None,
    ) -> None:
        self._audit = audit
        self._settings = settings
        self._fetcher = fetcher
        self._clock = clock
        self._dev = dev
        self._max_entries = max_entries
        self._cache: OrderedDict[str, _CacheEntry] = OrderedDict()

    async def resolve(self, client_id: str) -> ClientMetadataDocument:
        """The document ``client_id`` names, from the cache or freshly fetched and validated.

        Raises:
            ClientMetadataError: the URL is malformed or not allowed, the fetch fails, or the document is invalid
                or names another client.
        """
        if not self._settings.enabled:
            raise ClientMetadataError("disabled", "client ID metadata documents are disabled")
        cached = self._cache.get(client_id)
        if cached is not None and self._clock.now() < cached.expires_at:
            return cached.document
        _check_client_id_url(client_id, dev=self._dev)
        self._check_allowed(client_id)
        try:
            fetched = await self._fetcher.fetch(client_id)
        except SsrfError as exc:
            log.warning("client_metadata_fetch_failed", client_id=client_id, reason=exc.reason)
            raise ClientMetadataError("fetch_failed", f"cannot fetch the client metadata document: {exc}") from exc
        document = _parse_document(client_id, fetched.body)
        self._remember(client_id, document, fetched.headers.get("cache-control", ""))
        if self._audit is not None:  # a CIMD client "registers" each time its document is (re)fetched
            await self._audit.record(
                "auth.client_registered",
                client_id=client_id,
                client_kind="cimd",
                detail={
                    "client_name": (document.client_name or "")[:128],
                    "redirect_hosts": sorted({urlsplit(u).netloc[:128] for u in document.redirect_uris}),
                    "token_endpoint_auth_method": document.token_endpoint_auth_method,
                },
            )
        return document

    def _check_allowed(self, client_id: str) -> None:
        if any(fnmatchcase(client_id, pattern) for pattern in self._settings.deny):
            raise ClientMetadataError("not_allowed", "this client_id URL is denied by configuration")
        allow = self._settings.allow
        if allow and not any(fnmatchcase(client_id, pattern) for pattern in allow):
            raise ClientMetadataError("not_allowed", "this client_id URL is not in the configured allow list")

    def _remember(self, client_id: str, document: ClientMetadataDocument, cache_control: str) -> None:
        lifetime = _cache_lifetime(cache_control, self._settings)
        self._cache.pop(client_id, None)
        self._cache[client_id] = _CacheEntry(document, self._clock.now() + lifetime)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)


def _check_client_id_url(client_id: str, *, dev: bool) -> None:
    """Draft §3: https, a path component, no fragment, no userinfo, no dot segments."""

    def refuse(why: str) -> ClientMetadataError:
        return ClientMetadataError("invalid_client_id_url", f"client_id URL {why}")

    if not client_id.isascii() or any(c.isspace() or not c.isprintable() for c in client_id):
        raise refuse("must be printable ASCII without spaces")
    try:
        parts = urlsplit(client_id)
        parts.port  # noqa: B018  # parses the port, raising ValueError when it is out of range
    except ValueError as exc:
        raise refuse("is malformed") from exc
    loopback_http = dev and parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS
    if parts.scheme != "https" and not loopback_http:
        raise refuse("must use https")
    if not parts.hostname or "@" in parts.netloc:
        raise refuse("must have a host and no userinfo")
    if "#" in client_id:
        raise refuse("must not have a fragment")
    if parts.path in ("", "/"):
        raise refuse("must have a path")
    if any(unquote(segment) in (".", "..") for segment in parts.path.split("/")):
        raise refuse("must not have dot segments")


def _parse_document(client_id: str, body: bytes) -> ClientMetadataDocument:
    try:
        document = ClientMetadataDocument.model_validate_json(body)
    except ValidationError as exc:
        log.warning("client_metadata_invalid", client_id=client_id, errors=exc.error_count())
        reason = exc.errors()[0]["msg"]
        raise ClientMetadataError("invalid_document", f"invalid client metadata document: {reason}") from exc
    if document.client_id != client_id:
        raise ClientMetadataError("client_id_mismatch", "the document's client_id is not the URL it was fetched from")
    return document


def _cache_lifetime(cache_control: str, settings: ClientMetadataSettings) -> int:
    """Seconds to keep a document: ``max-age`` clamped to the configured bounds; the minimum when absent or
    ``no-store``/``no-cache`` (a floor, so one popular client cannot make us refetch on every request)."""
    lifetime = settings.min_cache_seconds
    for directive in cache_control.lower().split(","):
        name, _, value = directive.strip().partition("=")
        if name in ("no-store", "no-cache"):
            lifetime = settings.min_cache_seconds
            break
        if name == "max-age" and value.strip().strip('"').isdigit():
            lifetime = int(value.strip().strip('"'))
    return min(max(lifetime, settings.min_cache_seconds), settings.max_cache_seconds)


def build_client_metadata_resolver(
    settings: ClientMetadataSettings, clock: Clock, *, dev: bool, audit: AuthAudit | None = None
) -> ClientMetadataResolver:
    """The production wiring: the system resolver behind a guarded fetcher sized by ``settings``.

    In ``dev``, loopback addresses and http loopback URLs become fetchable: never for an exposed server.
    """
    if dev:
        log.warning("client_metadata_dev_mode", detail="loopback client_id URLs are fetched; never use in production")
    fetcher = GuardedFetcher(
        resolver=SystemResolver(),
        timeout=settings.timeout_seconds,
        max_bytes=settings.max_bytes,
        allow_loopback=dev,
        ca_bundle=str(settings.ca_bundle) if settings.ca_bundle else None,
    )
    return ClientMetadataResolver(settings, fetcher, clock, dev=dev, audit=audit)
