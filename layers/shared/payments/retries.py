"""Backing off from a provider that throttles or fails for a moment, within a time budget."""

from __future__ import annotations

import random
import time
from collections.abc import Callable


def with_backoff[T](call: Callable[[], T], retry_on: type[Exception], budget_seconds: float) -> T:
    """``call()``, retried on ``retry_on`` with exponential backoff and jitter; the last error is
    raised once the next pause would end past the budget. Callers send the same idempotency key
    on every attempt, so a retry can never double an effect."""
    deadline = time.monotonic() + budget_seconds
    delay = 0.25
    while True:
        try:
            return call()
        except retry_on:
            pause = delay * (1 + random.random() / 2)  # noqa: S311 - jitter, not cryptography
            if time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            delay *= 2
