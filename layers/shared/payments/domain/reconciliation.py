"""Reconciliation: recent Checkout Sessions, payment intents and PayPal orders compared with our
records, and what a missed webhook left behind repaired. Idempotent: every repair goes through the
same conditional writes as the webhooks, so running twice repairs nothing twice."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from payments.domain.stripe_sync import INTENT_RANK
from payments.domain.tickets import get_ticket_service
from payments.errors import ApiError
from payments.observability import audit, logger
from payments.providers.paypal_client import get_paypal_client
from payments.providers.paypal_objects import capture_state, first_capture
from payments.providers.stripe_gateway import get_stripe_gateway
from payments.repositories.provider_objects import CAPTURE, ORDER, PAYMENT_INTENT
from payments.repositories.tickets import EXPIRED
from payments.repositories.wiring import get_paypal_object_repository, get_stripe_object_repository

ORDER_FINAL = ("COMPLETED", "VOIDED")


@dataclass
class ReconciliationReport:
    checked: int = 0
    repaired: int = 0
    failed: int = 0
    repairs: list[str] = field(default_factory=list)

    def repair(self, what: str, **details: Any) -> None:
        self.repaired += 1
        self.repairs.append(what)
        audit("reconcile.repair", repair=what, **details)


def reconcile_checkout_sessions(since: int, report: ReconciliationReport) -> None:
    tickets = get_ticket_service()
    for session in get_stripe_gateway().recent_checkout_sessions(since):
        if session.ticket_id is None:
            continue
        report.checked += 1
        try:
            if session.is_paid:
                outcome = tickets.fulfil(session).outcome
                if outcome in ("paid", "refunded"):
                    report.repair(f"ticket {session.ticket_id} {outcome}", session_id=session.id, ticket_id=session.ticket_id)
            elif session.status == "expired" and tickets.release_for_session(session, EXPIRED):
                report.repair(f"ticket {session.ticket_id} released", session_id=session.id, ticket_id=session.ticket_id)
        except ApiError:
            report.failed += 1
            logger.exception("Reconciliation could not settle a checkout session", extra={"session_id": session.id})


def reconcile_payment_intents(since: int, report: ReconciliationReport) -> None:
    objects = get_stripe_object_repository()
    now = int(time.time())
    for intent in get_stripe_gateway().recent_payment_intents(since):
        record = objects.get(PAYMENT_INTENT, intent["id"])
        if record is None:
            continue  # not created through this API (a ticket checkout's intent, or another system's)
        report.checked += 1
        if record.get("status") != intent["status"] and objects.apply_state(
            PAYMENT_INTENT,
            intent["id"],
            {"status": intent["status"], "amount_received": intent.get("amount_received") or 0},
            as_of=now,
            rank=INTENT_RANK.get(intent["status"], 0),
        ):
            report.repair(
                f"payment intent {intent['id']} {record.get('status')} -> {intent['status']}",
                payment_intent=intent["id"],
                amount=intent.get("amount"),
            )


def reconcile_paypal_orders(since: int, report: ReconciliationReport) -> None:
    objects = get_paypal_object_repository()
    client = get_paypal_client()
    now = int(time.time())
    for record in objects.unsettled(ORDER, ORDER_FINAL, since):
        report.checked += 1
        order_id = str(record["object_id"])
        try:
            order = client.get_order(order_id)
        except ApiError:
            report.failed += 1
            logger.exception("Reconciliation could not read a PayPal order", extra={"order_id": order_id})
            continue
        if order.get("status") != record.get("status") and objects.apply_state(
            ORDER, order_id, {"status": order["status"]}, as_of=now, rank=4
        ):
            report.repair(f"order {order_id} {record.get('status')} -> {order['status']}", order_id=order_id)
        capture = first_capture(order)
        if capture and objects.get(CAPTURE, capture["id"]) is None:
            objects.record(CAPTURE, capture["id"], str(record["owner"]), capture_state(capture, order_id), now)
            report.repair(f"capture {capture['id']} recorded", order_id=order_id, capture_id=capture["id"])


def reconcile(window_seconds: int = 24 * 3600) -> ReconciliationReport:
    since = int(time.time()) - window_seconds
    report = ReconciliationReport()
    reconcile_checkout_sessions(since, report)
    reconcile_payment_intents(since, report)
    reconcile_paypal_orders(since, report)
    return report
