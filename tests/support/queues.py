"""The settings and clock the on-sale queue's integration tests run under."""

from __future__ import annotations

import random
import secrets
import time
from typing import Any

import pytest

from payments import wiring

KEY = "queue-pass-key-of-the-tests"


def frozen_time(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The time every clock of the layer reads (``time.time``), moved by the test through ``now[0]``."""
    now = [time.time()]
    monkeypatch.setattr(time, "time", lambda: now[0])
    return now


def queue_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    """The queue's key, a minute's pass and Stripe's default rate (and ``env`` besides), with the two
    counters a join draws from a seeded draw, so that a run is the same every time."""
    for name, value in {"QUEUE_PASS_KEY": KEY, "QUEUE_PASS_SECONDS": "60", "STRIPE_SESSION_RATE_PER_SECOND": "25", **env}.items():
        monkeypatch.setenv(name, value)
    draw: Any = random.Random(27)
    monkeypatch.setattr(secrets, "randbelow", draw.randrange)
    wiring.reset()
