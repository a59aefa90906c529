"""A manual clock for tests: time moves only when the test says so (no sleeps)."""

from __future__ import annotations


class ManualClock:
    """A callable clock returning ``now``; ``advance`` moves it forward."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        self.now += seconds
