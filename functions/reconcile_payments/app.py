"""Scheduled: compares recent Stripe and PayPal objects with our records and repairs what a missed webhook left."""

from dataclasses import asdict
from typing import Any

from payments.domain.reconciliation import reconcile
from payments.observability import logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = reconcile()
    logger.info("Reconciliation finished", extra=asdict(report))
    if report.failed:
        raise RuntimeError(f"{report.failed} objects could not be reconciled; the next run retries them")
    return asdict(report)
