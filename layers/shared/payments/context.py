"""The invocation's Lambda context, for the pieces that need it without being handed it."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

current_lambda_context: ContextVar[Any] = ContextVar("current_lambda_context", default=None)
