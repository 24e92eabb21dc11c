"""Test kit shipped with Drawbridge, for its own tests and for tool authors' tests."""

from dataclasses import dataclass


@dataclass
class FrozenClock:
    """A clock that stands still until told to move."""

    current: float = 1_800_000_000.0

    def now(self) -> float:
        return self.current

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``."""
        self.current += seconds
