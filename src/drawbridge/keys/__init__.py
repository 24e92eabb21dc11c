"""Signing keys: generation, encryption at rest, rotation, and the public JWKS."""

from drawbridge.keys.store import KeyStore, KeyStoreError

__all__ = ["KeyStore", "KeyStoreError"]
