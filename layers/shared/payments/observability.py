"""Logger created once per container; the service name comes from POWERTOOLS_SERVICE_NAME. Each
audit line also counts its business metrics (``payments.metrics``)."""

from __future__ import annotations

from payments import metrics
from payments.log import logger

__all__ = ["audit", "logger"]


def audit(action: str, **fields: object) -> None:
    """One structured line per money event: who, what, amount, provider ids."""
    logger.info(action, extra={"audit": True, "action": action, **fields})
    metrics.from_audit(action, fields)
