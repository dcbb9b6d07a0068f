"""A clock the tests move by hand: the pacer's and the queue's waits pass in virtual time."""

from __future__ import annotations


class VirtualClock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
