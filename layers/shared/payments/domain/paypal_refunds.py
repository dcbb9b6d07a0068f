"""PayPal refunds: never more than the capture, never twice, whatever is retried or runs at once.

A refund through the API goes reserve → PayPal → record:

1. **Reserve.** The amount is taken from the capture's refundable remainder in one conditional
   write, under a reservation id, so two refunds at once can never both take the same money.
2. **PayPal.** The refund is asked for with ``PayPal-Request-Id`` = the reservation id (a retry is
   PayPal's replay, never a second refund) and ``custom_id`` = the reservation id (so its webhook
   finds the reservation). A refusal gives the amount back; a timeout keeps it reserved (the money
   may have moved) until the answer is learned from a retry, the webhook or the reconciliation.
3. **Record.** The refund, the capture's counters and the reservation in one transaction, once
   per refund id; then the capture's status, written under a condition on those counters.

Which requests are the same refund: with an ``Idempotency-Key``, those with the same key (for the
key's lifetime); without one, identical requests (capture, amount, note) within
``REQUEST_WINDOW_SECONDS``, or later while the first one's reservation is unsettled (PayPal's answer
lost: the money may have moved): a double click or a retry after a timeout refunds once, under the
same PayPal-Request-Id, and the same refund asked for again after the window, once the first is
settled, is a new refund.

A refund (or reversal) PayPal reports is taken as PayPal's word, but never lets our counters leave
their range. Its amount must be money greater than zero (a webhook's is checked by
``models.paypal_events``; any other is refused here, never recorded). One beyond what remains of the
capture (PayPal and our records disagree; only PayPal can have made it) is recorded with the amount
PayPal reports, while the capture's counters are held in range: ``refunded_minor`` grows to at most
``amount_minor``; ``refundable_minor`` becomes what the capture less the refunds recorded less the
reservations still open leaves, and zero when that is less (PayPal took more back than our open
reservations left: they are refused or settle, and give back no more than is left). So no counter
goes negative, and our refunds, recorded, reserved and asked for later, can never together exceed
the capture. The excess is logged for a person to look at."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from payments import money
from payments.auth import Caller
from payments.context import system_time
from payments.domain.paypal_objects import CAPTURE_RANK, first_refunds, minor_units, paypal_money, refunded_capture_id
from payments.domain.ports import CAPTURE, PayPalGateway, ProviderObjectStore
from payments.errors import InvalidField, NotApplicable, NotFound, ProviderRejected
from payments.idempotency import run_once
from payments.models.common import payload
from payments.observability import audit

if TYPE_CHECKING:
    from payments.models.paypal import RefundRequest

REQUEST_WINDOW_SECONDS = 600
# A refund record's reason when PayPal took the money back itself (PAYMENT.CAPTURE.REVERSED: a
# chargeback): money returned like a refund, counted with the refunds of its capture.
REASON_REVERSAL = "reversal"
# PayPal's statuses of a capture whose money came in; the refunds since are recorded from the
# refunds themselves, which then set the status (``PayPalRefundRepository.settle_status``).
CAPTURED = frozenset({"COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED"})
# A reservation still waiting for PayPal's answer this long is settled by the reconciliation.
UNANSWERED_AFTER_SECONDS = 900


class ReservationState(StrEnum):
    RESERVED = "reserved"  # the amount is held; PayPal's answer is not known yet
    REFUNDED = "refunded"  # PayPal refunded it; the refund is recorded
    RELEASED = "released"  # PayPal refused it; the amount went back to the remainder


class NotRefundable(Exception):
    def __init__(self, remaining_minor: int, reason: str | None = None) -> None:
        super().__init__(reason or "not enough remains refundable")
        self.remaining_minor = remaining_minor
        self.reason = reason


@dataclass(frozen=True)
class PayPalRefund:
    refund_id: str
    capture_id: str
    amount_minor: int
    value: str
    currency: str
    status: str
    create_time: str | None = None
    custom_id: str | None = None
    reason: str | None = None  # REASON_REVERSAL for a reversal; None for a refund

    @classmethod
    def from_paypal(cls, refund: dict[str, Any], capture_id: str, currency: str, reason: str | None = None) -> PayPalRefund:
        amount = refund.get("amount") or {}
        amount_minor = minor_units(amount, currency)
        if amount_minor <= 0:
            raise NotApplicable("Refund amount is not greater than zero")
        return cls(
            refund_id=str(refund["id"]),
            capture_id=capture_id,
            amount_minor=amount_minor,
            value=str(amount.get("value")),
            currency=str(amount.get("currency_code", currency)),
            status=str(refund.get("status", "COMPLETED")),
            create_time=refund.get("create_time"),
            # A reversal is never one of our refund requests: it settles no reservation of ours.
            custom_id=None if reason == REASON_REVERSAL else refund.get("custom_id"),
            reason=reason,
        )

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> PayPalRefund:
        return cls(**{**data, "amount_minor": int(data["amount_minor"])})

    def to_record(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value is not None}

    def answer(self) -> dict[str, Any]:
        """The seed's refund-payment answer."""
        return {
            "refund_id": self.refund_id,
            "status": self.status,
            "amount": {"currency_code": self.currency, "value": self.value},
            "create_time": self.create_time,
        }


@dataclass(frozen=True)
class RefundReservation:
    reservation_id: str
    capture_id: str
    amount_minor: int
    state: ReservationState
    requested_by: str
    created_at: int
    refund: PayPalRefund | None = None
    refusal: str | None = None


class PayPalRefundStore(Protocol):
    """The port of the refunds' reservations and records (``repositories.paypal_refunds``): every
    write conditional, so that no amount is reserved or recorded twice. Here, beside the types it
    speaks in, so that the repository imports the domain and never the other way round."""

    def reservation_for_request(self, fingerprint: str, window_seconds: int, now: int) -> str: ...

    def reservation(self, reservation_id: str) -> RefundReservation | None: ...

    def reserve(self, reservation_id: str, capture_id: str, amount_minor: int | None, requested_by: str, now: int) -> RefundReservation: ...

    def release(self, reservation: RefundReservation, refusal: str) -> None: ...

    def record(self, refund: PayPalRefund, owner: str, now: int) -> bool: ...

    def settle_status(self, capture_id: str, now: int) -> str | None: ...

    def unsettled_reservations(self, created_before: int) -> list[RefundReservation]: ...


class PayPalRefundService:
    def __init__(
        self,
        client: Callable[[], PayPalGateway],
        objects: ProviderObjectStore,
        refunds: PayPalRefundStore,
        clock: Callable[[], float] = system_time,
    ) -> None:
        self._client = client
        self._objects = objects
        self._refunds = refunds
        self._clock = clock

    def refund_payment(self, caller: Caller, request: RefundRequest, client_key: str | None) -> dict[str, Any]:
        capture = self._objects.get(CAPTURE, request.capture_id)
        if capture is None:
            raise NotFound("Capture not found")
        if capture.get("status") == "PENDING":
            # PayPal may have completed it since and its webhook been lost: PayPal's word first.
            self.refresh_capture(capture)
            capture = self._objects.get(CAPTURE, request.capture_id) or capture
        currency = str(capture["currency"])
        amount_minor = None
        if request.amount is not None and request.currency is not None:
            if request.currency.upper() != currency:
                raise InvalidField("currency", f"the capture is in {currency}")
            amount_minor = money.to_minor_units(request.amount, currency, money.Provider.PAYPAL)

        def refund_once(reservation_id: str) -> dict[str, Any]:
            return self._refund(caller, capture, amount_minor, request.note_to_payer, reservation_id)

        if client_key is not None:
            return run_once(caller, f"paypal-refund-{request.capture_id}", client_key, payload(request), refund_once)
        fingerprint = hashlib.sha256(f"{request.capture_id}\x00{amount_minor}\x00{request.note_to_payer}".encode()).hexdigest()
        return refund_once(self._refunds.reservation_for_request(fingerprint, REQUEST_WINDOW_SECONDS, int(self._clock())))

    def _refund(
        self, caller: Caller, capture: dict[str, Any], amount_minor: int | None, note: str | None, reservation_id: str
    ) -> dict[str, Any]:
        capture_id, currency = str(capture["object_id"]), str(capture["currency"])
        try:
            reservation = self._refunds.reserve(reservation_id, capture_id, amount_minor, caller.user_id, int(self._clock()))
        except NotRefundable as refused:
            left = money.to_major_units(refused.remaining_minor, currency, money.Provider.PAYPAL)
            raise InvalidField("amount", refused.reason or f"at most {left} {currency} remains refundable") from None
        if reservation.state == ReservationState.RELEASED:
            raise ProviderRejected(reservation.refusal)
        if reservation.refund is not None:
            return reservation.refund.answer()  # the same request, refunded before
        body: dict[str, Any] = {"amount": paypal_money(reservation.amount_minor, currency), "custom_id": reservation_id}
        if note:
            body["note_to_payer"] = note
        try:
            answer = self._client().refund_capture(capture_id, body, request_id=reservation_id)
        except (ProviderRejected, NotFound) as refusal:
            self._refunds.release(reservation, refusal.message)
            raise
        refund = PayPalRefund.from_paypal({"custom_id": reservation_id, **answer}, capture_id, currency)
        self.record(refund, str(capture["owner"]), requested_by=caller.user_id)
        return refund.answer()

    def record(self, refund: PayPalRefund, owner: str, requested_by: str | None = None) -> bool:
        """A refund PayPal made (through us or in its dashboard), recorded once; the capture's status
        then follows its counters. False when it was recorded before."""
        now = int(self._clock())
        recorded = self._refunds.record(refund, owner, now)
        self._refunds.settle_status(refund.capture_id, now)
        if recorded:
            audit(
                "paypal.capture_reversed" if refund.reason == REASON_REVERSAL else "paypal.capture_refunded",
                user_id=requested_by or owner,
                capture_id=refund.capture_id,
                refund_id=refund.refund_id,
                amount=refund.value,
                currency=refund.currency,
            )
        return recorded

    def catch_up(self, capture: dict[str, Any]) -> list[str]:
        """Every refund PayPal lists for a capture (its order's refunds), recorded if it was not:
        a webhook lost, an answer lost. Returns what was repaired."""
        capture_id = str(capture["object_id"])
        order = self._client().get_order(str(capture["order_id"]))
        repaired = []
        for listed in first_refunds(order):
            if refunded_capture_id(listed) in (capture_id, None):
                refund = PayPalRefund.from_paypal(listed, capture_id, str(capture["currency"]))
                if self.record(refund, str(capture["owner"])):
                    repaired.append(f"refund {refund.refund_id} recorded")
        return repaired

    def refresh_capture(self, capture: dict[str, Any]) -> list[str]:
        """A capture PayPal answered ``PENDING`` (an eCheck, a review) looked up at PayPal, and the
        status it has moved to recorded: its webhook may have been lost. A capture refunded since
        is recorded as completed and its refunds from its order, which then set its status.
        Returns what was repaired."""
        capture_id = str(capture["object_id"])
        status = str(self._client().get_capture(capture_id).get("status") or "")
        if not status or status == capture.get("status"):
            return []
        recorded = "COMPLETED" if status in CAPTURED else status
        repaired = []
        rank = CAPTURE_RANK.get(recorded, 0)
        if self._objects.apply_state(CAPTURE, capture_id, {"status": recorded}, as_of=int(self._clock()), rank=rank):
            repaired.append(f"capture {capture_id} {capture.get('status')} -> {recorded}")
            audit(f"paypal.capture_{recorded.lower()}", user_id=capture.get("owner"), capture_id=capture_id, amount=capture.get("value"))
        if status != recorded:
            repaired += self.catch_up({**capture, "status": recorded})
        return repaired

    def unanswered(self) -> list[RefundReservation]:
        """Reservations whose PayPal answer has not come for ``UNANSWERED_AFTER_SECONDS``."""
        return self._refunds.unsettled_reservations(int(self._clock()) - UNANSWERED_AFTER_SECONDS)

    def settle_unanswered(self, reservation: RefundReservation) -> list[str]:
        """One reservation whose PayPal answer never came (each its own step: one PayPal cannot
        answer for holds no other): the order's refunds tell whether the money went back (recorded,
        which settles the reservation) or not (released)."""
        repaired: list[str] = []
        capture = self._objects.get(CAPTURE, reservation.capture_id)
        if capture is None:
            return repaired
        repaired += self.catch_up(capture)
        settled = self._refunds.reservation(reservation.reservation_id)
        if settled is not None and settled.state == ReservationState.RESERVED:
            self._refunds.release(settled, "PayPal made no refund for this request")
            repaired.append(f"refund reservation {reservation.reservation_id} released")
        return repaired
