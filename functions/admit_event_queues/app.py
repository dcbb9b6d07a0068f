"""Scheduled every minute: steps every on-sale queue's admission watermark once a second for the minute."""

from dataclasses import asdict
from typing import Any

from payments import metrics, wiring
from payments.observability import logger
from payments.settings import get_settings


@logger.inject_lambda_context(clear_state=True)
@metrics.flushed
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = wiring.queue_service().admit_for(get_settings().queue_admitter_seconds)
    summary = asdict(report) | {"events": sorted(report.events)}
    logger.info("Queue admitter finished", extra=summary)
    return summary
