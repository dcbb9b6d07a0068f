"""Scheduled every minute: steps every on-sale queue's admission watermark once a second for the minute."""

from dataclasses import asdict
from typing import Any

from payments import metrics, wiring
from payments.observability import logger
from payments.settings import get_settings

# Left of the function's timeout when the loop stops starting steps: one step's worst case
# (a few DynamoDB calls per queue, each bounded by the client's timeouts and retries).
MARGIN_SECONDS = 10.0


@logger.inject_lambda_context(clear_state=True)
@metrics.flushed
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    seconds = min(get_settings().queue_admitter_seconds, context.get_remaining_time_in_millis() / 1000 - MARGIN_SECONDS)
    report = wiring.queue_service().admit_for(max(seconds, 0.0))
    summary = asdict(report) | {"events": sorted(report.events)}
    logger.info("Queue admitter finished", extra=summary)
    return summary
