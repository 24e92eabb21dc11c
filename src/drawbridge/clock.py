"""The only place that reads the wall clock.

Everything time-dependent (token expiry, code lifetime, key retirement) takes a :class:`Clock`
so tests can freeze and advance time instead of sleeping.
"""

import time
from typing import Protocol


class Clock(Protocol):
    """A source of the current time, in seconds since the Unix epoch."""

    def now(self) -> float:
        """Return the current time as a Unix timestamp."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> float:
        return time.time()
