"""PayPal webhook events: verified offline (``providers.paypal_signature``) before they are parsed,
each event id applied once, the records kept true whatever order the events arrive in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from payments.context import system_time
from payments.domain.paypal_objects import CAPTURE_RANK, capture_state, refunded_capture_id
from payments.domain.paypal_refunds import REASON_REVERSAL, PayPalRefund, PayPalRefundService
from payments.domain.ports import (
    CAPTURE,
    ORDER,
    PayPalSignatures,
    ProviderObjectStore,
    SignatureRefused,
    TransmissionStore,
    VerifiedDelivery,
)
from payments.domain.webhooks import DEFERRED, MALFORMED, Handler, WebhookLedger, WebhookResult, parse_event
from payments.errors import BadRequest, NotApplicable
from payments.observability import audit, logger
from payments.secrets import resolve_secret
from payments.settings import Settings
from payments.timestamps import paypal_epoch

PROVIDER = "paypal"
SIGNATURE_HEADERS = ("paypal-transmission-id", "paypal-transmission-time", "paypal-transmission-sig", "paypal-cert-url", "paypal-auth-algo")
# A transmission's record outlives the last moment its delivery passes the time check, with room for clock skew.
TRANSMISSION_MARGIN_SECONDS = 3600
ORDER_RANK = {"CREATED": 0, "PAYER_ACTION_REQUIRED": 0, "SAVED": 1, "APPROVED": 2, "VOIDED": 3, "COMPLETED": 4}


def _epoch(timestamp: str | None, now: int) -> int:
    """The event's time (checked by ``check_event``: a timestamp, and not in the future)."""
    return paypal_epoch(timestamp) if timestamp else now


def _check_event(event: dict[str, Any], now: int) -> None:
    # Imported here: pydantic and the models are loaded by the first event, not at cold start.
    from payments.models.paypal_events import check_event

    check_event(event, now)


class PayPalWebhooks:
    def __init__(
        self,
        verifier: PayPalSignatures,
        objects: ProviderObjectStore,
        refunds: PayPalRefundService,
        ledger: WebhookLedger,
        settings: Settings,
        transmissions: TransmissionStore,
        clock: Callable[[], float] = system_time,
    ) -> None:
        self._verifier = verifier
        self._objects = objects
        self._refunds = refunds
        self._ledger = ledger
        self._settings = settings
        self._transmissions = transmissions
        self._clock = clock
        self._handlers: dict[str, Handler] = {
            "CHECKOUT.ORDER.APPROVED": self._order_approved,
            "PAYMENT.CAPTURE.PENDING": self._capture_changed,
            "PAYMENT.CAPTURE.COMPLETED": self._capture_changed,
            "PAYMENT.CAPTURE.DENIED": self._capture_changed,
            "PAYMENT.CAPTURE.REFUNDED": self._capture_refunded,
            "PAYMENT.CAPTURE.REVERSED": self._capture_reversed,
        }

    def handle(self, payload: bytes, headers: dict[str, str]) -> WebhookResult:
        delivery = self._authenticate(payload, headers)
        event = parse_event(payload, "event_type", "PayPal")  # only once PayPal's signature holds
        # Signed is not well-formed: a malformed event is a 400, and nothing is written, not even
        # the transmission record.
        _check_event(event, self._now())
        self._refuse_replays(delivery)
        return self._ledger.apply_once(PROVIDER, event, event["id"], event["event_type"], self._handlers)

    def _now(self) -> int:
        return int(self._clock())

    # the reconciliation ------------------------------------------------------------------------
    def event_types(self) -> list[str]:
        """The event types this webhook applies: those the reconciliation lists from PayPal."""
        return sorted(self._handlers)

    def apply_listed(self, event: dict[str, Any]) -> str:
        """An event the reconciliation read from PayPal's API (over TLS with our credentials: no
        signature to check), applied once through the same ledger and handlers as a delivery. One
        not shaped as the handlers read it can never be applied (it is not ours to fix): logged and
        answered MALFORMED, never a failure that would stop every later run."""
        try:
            _check_event(event, self._now())
        except BadRequest as malformed:
            logger.error("Listed PayPal event malformed", extra={"reason": malformed.message})
            return MALFORMED
        return self._ledger.apply_once(PROVIDER, event, str(event["id"]), str(event["event_type"]), self._handlers).outcome

    def _authenticate(self, payload: bytes, headers: dict[str, str]) -> VerifiedDelivery:
        missing = [name for name in SIGNATURE_HEADERS if not headers.get(name)]
        if missing:
            raise BadRequest(f"Missing PayPal signature header {missing[0]}")
        webhook_id = resolve_secret(self._settings.paypal_webhook_id, self._settings.paypal_webhook_id_parameter, "PayPal webhook id")
        try:
            return self._verifier.verify(headers, payload, webhook_id)
        except SignatureRefused as refused:
            logger.warning("PayPal webhook refused", extra={"reason": str(refused)})
            raise BadRequest("Invalid PayPal signature") from None

    def _refuse_replays(self, delivery: VerifiedDelivery) -> None:
        """PayPal signs the body's CRC32, not the body: within the tolerance, a genuine delivery's
        headers would pass with any other body of the same CRC32 (four chosen bytes make one). The
        transmission id is recorded with the body's SHA-256 before anything else is written; the
        same id with another body is refused as a forged delivery is."""
        keep_until = delivery.acceptable_until + TRANSMISSION_MARGIN_SECONDS
        if not self._transmissions.record_transmission(
            PROVIDER, delivery.transmission_id, delivery.body_sha256, delivery.verified_at, keep_until
        ):
            logger.warning("PayPal webhook refused", extra={"reason": "transmission id already delivered with another body"})
            raise BadRequest("Invalid PayPal signature")

    def _order_approved(self, event: dict[str, Any]) -> str:
        order = event["resource"]
        applied = self._objects.apply_state(
            ORDER,
            order["id"],
            {"status": order.get("status", "APPROVED")},
            as_of=_epoch(event.get("create_time"), self._now()),
            rank=ORDER_RANK.get(order.get("status", ""), 0),
        )
        return "applied" if applied else "skipped"

    def _capture_changed(self, event: dict[str, Any]) -> str:
        capture = event["resource"]
        order_id = ((capture.get("supplementary_data") or {}).get("related_ids") or {}).get("order_id")
        order = self._objects.get(ORDER, order_id) if order_id else None
        if order is None:
            return "skipped"
        as_of = _epoch(event.get("create_time"), self._now())
        # The webhook can overtake the capture call's own write; the order tells whose capture it is.
        self._objects.record(CAPTURE, capture["id"], str(order["owner"]), capture_state(capture, str(order_id)), self._now())
        applied = self._objects.apply_state(
            CAPTURE, capture["id"], {"status": capture["status"]}, as_of=as_of, rank=CAPTURE_RANK.get(capture["status"], 0)
        )
        if capture["status"] == "COMPLETED":
            self._objects.apply_state(ORDER, str(order_id), {"status": "COMPLETED"}, as_of=as_of, rank=ORDER_RANK["COMPLETED"])
        if applied:
            audit(
                f"paypal.capture_{capture['status'].lower()}",
                user_id=order["owner"],
                order_id=order_id,
                capture_id=capture["id"],
                amount=(capture.get("amount") or {}).get("value"),
            )
        return "applied" if applied else "skipped"

    def _capture_refunded(self, event: dict[str, Any]) -> str:
        resource = event["resource"]
        capture_id = refunded_capture_id(resource)
        capture = self._objects.get(CAPTURE, capture_id) if capture_id else None
        if capture is None:
            # Made outside this API, or its capture's webhook (and our capture call's answer) not in
            # yet: never marked processed, so the reconciliation's listing applies it once it is.
            return DEFERRED
        refund = PayPalRefund.from_paypal(resource, str(capture_id), _same_currency(resource, capture))
        return "applied" if self._refunds.record(refund, str(capture["owner"])) else "skipped"

    def _capture_reversed(self, event: dict[str, Any]) -> str:
        """PayPal took a capture's money back itself (a chargeback decided for the payer): the money
        went back as with a refund, so it is recorded once with the capture's refunds, counted in
        what was returned and taken from what can still be refunded (a refund asked for later is
        refused by our records, not by PayPal). The resource is a refund whose "up" link names the
        capture."""
        resource = event["resource"]
        capture_id = refunded_capture_id(resource)
        capture = self._objects.get(CAPTURE, capture_id) if capture_id else None
        if capture is None:
            # As a refund above: a reversal cannot be read back from the order later (PayPal lists
            # only refunds there), so its event must stay unprocessed until its capture is known.
            return DEFERRED
        reversal = PayPalRefund.from_paypal(resource, str(capture_id), _same_currency(resource, capture), reason=REASON_REVERSAL)
        return "applied" if self._refunds.record(reversal, str(capture["owner"])) else "skipped"


def _same_currency(refund: dict[str, Any], capture: dict[str, Any]) -> str:
    """The capture's currency, which a refund of it is in: one in another currency cannot be counted
    against the capture's amounts (a permanent rejection, logged for a person)."""
    currency = str(capture["currency"])
    if refund["amount"]["currency_code"] != currency:
        raise NotApplicable("Refund currency differs from the capture's")
    return currency
