"""The invocation's Lambda context, for the pieces that need it without being handed it."""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import Any

current_lambda_context: ContextVar[Any] = ContextVar("current_lambda_context", default=None)


def system_time() -> float:
    """``time.time()`` looked up at each call, so that a test that moves time moves every clock."""
    return time.time()
