"""Logger created once per container; the service name comes from POWERTOOLS_SERVICE_NAME. Each
audit line also counts its business metrics (``payments.metrics``)."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from payments import metrics

logger = Logger()


def audit(action: str, **fields: object) -> None:
    """One structured line per money event: who, what, amount, provider ids."""
    logger.info(action, extra={"audit": True, "action": action, **fields})
    metrics.from_audit(action, fields)
