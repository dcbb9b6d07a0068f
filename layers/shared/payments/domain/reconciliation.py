"""Reconciliation from both sides: what Stripe and PayPal did that a lost webhook kept from us, and
our own tickets that are still unsettled (reserved past expiry, processing, refunding) whatever
their age, compared with the provider.

Every repair goes through the same conditional writes as the webhooks, so a second run repairs and
reports nothing. A run that nears its time limit stops between two objects and leaves a
checkpoint; the next run continues from it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from payments.context import system_time
from payments.domain.lifecycle import Outcome, TicketStatus
from payments.domain.paypal_objects import capture_state, first_capture
from payments.domain.paypal_refunds import PayPalRefundService
from payments.domain.ports import CAPTURE, ORDER, PAYMENT_INTENT, CheckpointStore, PayPalGateway, ProviderObjectStore, UnsettledTickets
from payments.domain.stripe_objects import checkout_session_from_dict, expandable_id
from payments.domain.stripe_sync import INTENT_RANK
from payments.domain.tickets import REASON_DASHBOARD, REASON_DISPUTE_LOST, TicketService
from payments.errors import ApiError
from payments.observability import audit, logger
from payments.providers.stripe_gateway import StripeGateway

JOB = "reconciliation"
ORDER_FINAL = ("COMPLETED", "VOIDED")
CAPTURE_FINAL = ("REFUNDED", "DECLINED", "FAILED")
# Stripe retries a webhook for 3 days (PayPal over about as long): anything older than that and never
# delivered is ours to find.
LOOKBACK_SECONDS = 3 * 24 * 3600 + 3600
# Each run overlaps the previous one by this much, so an object created while it ran is not missed.
OVERLAP_SECONDS = 3600
# Reservations past their expiry by this much are settled here too (Stripe's own expiry goes first).
EXPIRY_GRACE_SECONDS = 300
STRIPE_PHASES = ("checkout.sessions", "refunds", "disputes", "payment_intents")


@dataclass
class ReconciliationReport:
    checked: int = 0
    repaired: int = 0
    failed: int = 0
    complete: bool = True
    repairs: list[str] = field(default_factory=list)

    def repair(self, what: str, **details: Any) -> None:
        self.repaired += 1
        self.repairs.append(what)
        audit("reconcile.repair", repair=what, **details)


class _OutOfTime(Exception):
    pass


class Reconciler:
    def __init__(
        self,
        tickets: TicketService,
        ticket_repository: UnsettledTickets,
        stripe: Callable[[], StripeGateway],
        stripe_objects: ProviderObjectStore,
        paypal: Callable[[], PayPalGateway],
        paypal_objects: ProviderObjectStore,
        paypal_refunds: PayPalRefundService,
        checkpoints: CheckpointStore,
        clock: Callable[[], float] = system_time,
    ) -> None:
        self._tickets = tickets
        self._ticket_repository = ticket_repository
        self._stripe = stripe
        self._stripe_objects = stripe_objects
        self._paypal = paypal
        self._paypal_objects = paypal_objects
        self._paypal_refund_service = paypal_refunds
        self._checkpoints = checkpoints
        self._clock = clock

    def run(self, out_of_time: Callable[[], bool] = lambda: False) -> ReconciliationReport:
        """One pass; ``out_of_time()`` is asked between objects (the Lambda's remaining time)."""
        started = int(self._clock())
        state = self._checkpoints.get(JOB)
        since = max(int(state.get("last_complete_start", 0)) - OVERLAP_SECONDS, started - LOOKBACK_SECONDS)
        since = int(state.get("since", since))  # a run that was cut short keeps its window
        report = ReconciliationReport()
        try:
            self._our_unsettled_tickets(report, out_of_time)
            phase, after = state.get("phase"), state.get("after")
            for kind in STRIPE_PHASES[STRIPE_PHASES.index(phase) if phase in STRIPE_PHASES else 0 :]:
                try:
                    for item in self._stripe().listed(kind, since, after if kind == phase else None):
                        if out_of_time():
                            self._checkpoints.put(JOB, {**state, "since": since, "phase": kind, "after": item["id"]})
                            raise _OutOfTime()
                        self._guarded(report, kind, item["id"], functools.partial(self._stripe_object, kind, item, report))
                except ApiError:
                    # Stripe could not list: the next run lists this window again.
                    report.failed += 1
                    logger.exception("Reconciliation could not list Stripe objects", extra={"kind": kind})
            # PayPal's side is read from our own unsettled records, so its window is PayPal's whole
            # webhook retry period every run, not the checkpoint's: a refund made in PayPal's dashboard
            # on an older capture, its webhook lost, is still found.
            paypal_since = started - LOOKBACK_SECONDS
            self._paypal_orders(paypal_since, report)
            self._paypal_refunds(paypal_since, report)
        except _OutOfTime:
            report.complete = False
            return report
        # A run with failures keeps its window, so that the next one looks at the same objects again.
        kept = {"last_complete_start": state.get("last_complete_start", 0), "since": since}
        self._checkpoints.put(JOB, kept if report.failed else {"last_complete_start": started})
        return report

    # our side --------------------------------------------------------------------------------
    def _our_unsettled_tickets(self, report: ReconciliationReport, out_of_time: Callable[[], bool]) -> None:
        now = int(self._clock())
        reserved_cutoff = now - EXPIRY_GRACE_SECONDS
        for status, cutoff in ((TicketStatus.RESERVED, reserved_cutoff), (TicketStatus.PROCESSING, None), (TicketStatus.REFUNDING, None)):
            for ticket in self._ticket_repository.unsettled(status, expired_before=cutoff, limit=1000):
                if out_of_time():
                    raise _OutOfTime()
                report.checked += 1
                expiry = cutoff if status == TicketStatus.RESERVED else None
                settle = functools.partial(self._tickets.settle_open_ticket, ticket, expiry)
                outcome = self._guarded(report, "ticket", str(ticket.ticket_id), settle)
                if isinstance(outcome, Outcome) and outcome.changed:
                    report.repair(f"ticket {ticket.ticket_id} {outcome}", ticket_id=ticket.ticket_id)

    # Stripe's side ---------------------------------------------------------------------------
    def _stripe_object(self, kind: str, item: dict[str, Any], report: ReconciliationReport) -> None:
        report.checked += 1
        if kind == "checkout.sessions":
            session = checkout_session_from_dict(item)
            if session.ticket_id is None or not (session.is_paid or session.is_processing or session.is_expired):
                return
            outcome = self._tickets.settle(session).outcome
            if outcome.changed:
                report.repair(f"ticket {session.ticket_id} {outcome}", session_id=session.id, ticket_id=session.ticket_id)
        elif kind == "refunds":
            intent = expandable_id(item.get("payment_intent"))
            if intent and item.get("status") in ("succeeded", "pending"):
                settled = self._tickets.refunded_at_provider(intent, None, int(item.get("amount") or 0), REASON_DASHBOARD)
                if settled and settled.outcome.changed:
                    report.repair(f"ticket {settled.ticket.ticket_id} {settled.outcome}", payment_intent=intent, refund_id=item["id"])
        elif kind == "disputes":
            intent = expandable_id(item.get("payment_intent"))
            if intent and item.get("status") == "lost":
                settled = self._tickets.refunded_at_provider(intent, str(item["id"]), int(item.get("amount") or 0), REASON_DISPUTE_LOST)
                if settled and settled.outcome.changed:
                    report.repair(f"ticket {settled.ticket.ticket_id} {settled.outcome}", payment_intent=intent, dispute=item["id"])
        else:
            self._payment_intent(item, report)

    def _payment_intent(self, intent: dict[str, Any], report: ReconciliationReport) -> None:
        record = self._stripe_objects.get(PAYMENT_INTENT, intent["id"])
        if record is None or record.get("status") == intent["status"]:
            return  # not created through the direct endpoints (a ticket's intent, another system's), or true already
        if self._stripe_objects.apply_state(
            PAYMENT_INTENT,
            intent["id"],
            {"status": intent["status"], "amount_received": intent.get("amount_received") or 0},
            as_of=int(self._clock()),
            rank=INTENT_RANK.get(intent["status"], 0),
        ):
            report.repair(
                f"payment intent {intent['id']} {record.get('status')} -> {intent['status']}",
                payment_intent=intent["id"],
                amount=intent.get("amount"),
            )

    # PayPal ----------------------------------------------------------------------------------
    def _paypal_orders(self, since: int, report: ReconciliationReport) -> None:
        now = int(self._clock())
        for record in self._paypal_objects.unsettled(ORDER, ORDER_FINAL, since):
            report.checked += 1
            order_id = str(record["object_id"])
            order = self._guarded(report, "paypal order", order_id, functools.partial(self._paypal().get_order, order_id))
            if not isinstance(order, dict):
                continue
            if order.get("status") != record.get("status") and self._paypal_objects.apply_state(
                ORDER, order_id, {"status": order["status"]}, as_of=now, rank=4
            ):
                report.repair(f"order {order_id} {record.get('status')} -> {order['status']}", order_id=order_id)
            capture = first_capture(order)
            if capture and self._paypal_objects.record(CAPTURE, capture["id"], str(record["owner"]), capture_state(capture, order_id), now):
                report.repair(f"capture {capture['id']} recorded", order_id=order_id, capture_id=capture["id"])

    def _paypal_refunds(self, since: int, report: ReconciliationReport) -> None:
        """Refunds whose webhook or answer was lost: of captures not yet fully refunded, and of
        reservations still waiting for PayPal's answer."""
        for capture in self._paypal_objects.unsettled(CAPTURE, CAPTURE_FINAL, since):
            report.checked += 1
            repairs = self._guarded(
                report, "paypal capture", str(capture["object_id"]), functools.partial(self._paypal_refund_service.catch_up, capture)
            )
            for repair in repairs or []:
                report.repair(repair, capture_id=capture["object_id"])
        for repair in self._guarded(report, "paypal refund reservations", "*", self._paypal_refund_service.settle_unanswered) or []:
            report.repair(repair)

    @staticmethod
    def _guarded(report: ReconciliationReport, kind: str, object_id: str, step: Callable[[], Any]) -> Any:
        """One object's repair; a failure is counted and logged, and the run goes on with the next."""
        try:
            return step()
        except ApiError:
            report.failed += 1
            logger.exception("Reconciliation could not settle an object", extra={"kind": kind, "object_id": object_id})
            return None
