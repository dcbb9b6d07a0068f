"""Scheduled: compares Stripe's and PayPal's records with ours, and our unsettled tickets with theirs,
and repairs what a lost webhook left; stops before its timeout and continues at the next run."""

from dataclasses import asdict
from typing import Any

from payments import metrics, wiring
from payments.observability import logger

# Left for the checkpoint and the log line when a run stops early.
MARGIN_MILLIS = 30_000


@logger.inject_lambda_context(clear_state=True)
@metrics.flushed
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = wiring.reconciler().run(lambda: context.get_remaining_time_in_millis() < MARGIN_MILLIS)
    logger.info("Reconciliation finished", extra=asdict(report))
    if report.failed:
        raise RuntimeError(f"{report.failed} objects could not be reconciled; the next run retries them")
    return asdict(report)
