"""Provider timestamps read as seconds since 1970, in a module of their own so that the event
models (the API's input) and the domain read them alike without the models importing the domain."""

from __future__ import annotations

from datetime import UTC, datetime


def paypal_epoch(timestamp: str) -> int:
    """A PayPal timestamp (RFC 3339, "2026-01-01T10:00:00Z") in seconds since 1970; one without a
    zone is read as UTC. Raises ValueError for text that is no timestamp."""
    moment = datetime.fromisoformat(timestamp)
    try:
        return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())
    except OverflowError:  # year 1 with an eastern offset lies before datetime's range
        raise ValueError("timestamp out of range") from None
