"""Scheduled: releases reservations past their expiry whose Stripe webhook never came."""

from dataclasses import asdict
from typing import Any

from payments import metrics, wiring
from payments.observability import logger


@logger.inject_lambda_context(clear_state=True)
@metrics.flushed
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = wiring.ticket_service().sweep_expired()
    logger.info("Reservation sweep finished", extra=asdict(report))
    if report.failed:
        # A failed run shows in the function's Errors metric, which the sweep alarm watches.
        raise RuntimeError(f"{report.failed} reservations could not be settled; the next run retries them")
    return asdict(report)
