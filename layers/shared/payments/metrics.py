"""Business metrics, as CloudWatch embedded metric format (EMF) lines in the function's own log:
CloudWatch extracts them, so recording one costs no call at request time.

They are counted where the money and the door already leave their audit line (``observability.audit``
hands each action here), so that a metric and its audit line cannot drift apart. Powertools
Metrics is imported on a function's first metric: a function that records none never loads it.
``flush()`` (called by the handler wrappers) writes what a request recorded."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools.metrics import Metrics

# Refund reason of a payment that arrived after its reservation was released and the seats sold.
LATE_PAYMENT_REASON = "paid_after_release_and_sold_out"

# audit action -> the metrics it counts: (metric, field holding the amount, or None for one).
FROM_AUDIT: dict[str, tuple[tuple[str, str | None], ...]] = {
    "ticket.issued_free": (("TicketsSold", None), ("SeatsSold", "quantity")),
    "ticket.paid": (("TicketsSold", None), ("SeatsSold", "quantity"), ("PaymentsSucceeded", None)),
    "ticket.payment_failed": (("PaymentsFailed", None), ("SeatsReleased", "quantity")),
    "ticket.cancelled": (("SeatsReleased", "quantity"),),
    "ticket.given_back": (("SeatsReleased", "quantity"),),
    "ticket.reservation_released": (("SeatsReleased", "quantity"),),
    "ticket.refunded": (("Refunds", None),),
    # A refund that failed later: the money did not go back (the ticket is paid again, or owed a refund).
    "ticket.refund_failed": (("RefundsFailed", None),),
    "ticket.checked_in": (("CheckIns", "count"),),
    "stripe.payment_intent_succeeded": (("PaymentsSucceeded", None),),
    "stripe.invoice_paid": (("PaymentsSucceeded", None),),
    "stripe.invoice_payment_failed": (("PaymentsFailed", None),),
    "stripe.charge_refunded": (("Refunds", None),),
    "stripe.dispute_opened": (("Disputes", None),),
    # A PayPal capture is made by our capture call; one still pending then completes by webhook.
    "paypal.capture_completed": (("PaymentsSucceeded", None),),
    "paypal.capture_declined": (("PaymentsFailed", None),),
    "paypal.capture_failed": (("PaymentsFailed", None),),
    "paypal.capture_refunded": (("Refunds", None),),
}


# Where the template does not say (a local run, a test), metrics still have a namespace to go to.
DEFAULT_NAMESPACE = "payments"


def _namespace() -> str:
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE


@functools.cache
def _metrics() -> Metrics:
    from aws_lambda_powertools.metrics import Metrics

    # The service dimension comes from POWERTOOLS_SERVICE_NAME.
    return Metrics(namespace=_namespace())


def count(name: str, value: int = 1) -> None:
    from aws_lambda_powertools.metrics import MetricUnit

    _metrics().add_metric(name=name, unit=MetricUnit.Count, value=value)


def from_audit(action: str, fields: Mapping[str, object]) -> None:
    for name, field in FROM_AUDIT.get(action, ()):
        value = fields.get(field) if field else 1
        count(name, value if isinstance(value, int) else 1)
    if action == "ticket.refunded" and fields.get("reason") == LATE_PAYMENT_REASON:
        count("LatePaymentRefunds")
    if action == "paypal.order_captured" and fields.get("status") == "COMPLETED":
        count("PaymentsSucceeded")


def webhook_outcome(provider: str, event_type: str, outcome: str) -> None:
    """One webhook event and what became of it, with its type and outcome as dimensions (its own
    EMF line, so that the request's other metrics keep only the service dimension)."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    try:
        with single_metric(name="WebhookEvents", unit=MetricUnit.Count, value=1, namespace=_namespace()) as metric:
            metric.add_dimension(name="provider", value=provider)
            metric.add_dimension(name="event_type", value=event_type[:250])  # CloudWatch's longest dimension value
            metric.add_dimension(name="outcome", value=outcome)
    except Exception:
        _not_written()


def flush() -> None:
    """Writes the metrics recorded since the last flush (nothing when there are none)."""
    if not (_metrics.cache_info().currsize and _metrics().metric_set):
        return
    try:
        _metrics().flush_metrics()
    except Exception:
        _not_written()
        _metrics().clear_metrics()


def _not_written() -> None:
    # A metric that cannot be written must not fail the request whose work is done.
    from payments.log import logger

    logger.exception("Metrics could not be written")


def flushed[**P, R](handler: Callable[P, R]) -> Callable[P, R]:
    """A Lambda handler that writes its invocation's metrics when it returns or raises."""

    @functools.wraps(handler)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return handler(*args, **kwargs)
        finally:
            flush()

    return wrapper
