"""How high-entropy secrets are stored: codes, refresh tokens, session ids and client secrets (decision 0003).

They are 256-bit random values, so a SHA-256 digest is as safe at rest as a slow hash and keeps lookups cheap.
"""

import hashlib


def digest(value: str) -> str:
    """The at-rest form (and lookup key) of an opaque secret."""
    return hashlib.sha256(value.encode()).hexdigest()
