"""The root of every error Drawbridge raises on purpose.

Each package subclasses :class:`DrawbridgeError` for its own failure kinds, so callers can
catch "anything we meant to raise" without catching programming errors.
"""


class DrawbridgeError(Exception):
    """Root of all Drawbridge errors."""


class ConfigError(DrawbridgeError):
    """The configuration is missing, unreadable or invalid; the message is one line for the operator."""
