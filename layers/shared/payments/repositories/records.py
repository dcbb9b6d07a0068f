"""The payments table's items for a ticket's money records (``payments.domain.records``): their keys
and attributes. The one place that shape is written: the DynamoDB repository (``repositories.tickets``)
and its in-memory twin (``tests.support.memory_stores``) both build their items here, so that they
cannot drift apart, and existing tables keep being read the way they were written. Plain values
(no boto): ``payments.dynamodb.to_attributes`` turns them into DynamoDB's, dropping the None ones."""

from __future__ import annotations

from typing import Any

from payments.domain.records import MoneyRecord, PaymentRecord, RefundRecord

# A ticket's payments are Stripe Checkout's; the provider is part of every key.
PROVIDER = "stripe"


def record_key(record: MoneyRecord) -> tuple[str, str]:
    """The record's (pk, sk): one item per Checkout Session's payment, one per refund or dispute."""
    if isinstance(record, PaymentRecord):
        return f"PAYMENT#{PROVIDER}#{record.session_id}", "PAYMENT"
    return f"REFUND#{PROVIDER}#{record.refund_id}", "REFUND"


def record_item(record: MoneyRecord) -> dict[str, Any]:
    """The item the payments table keeps of ``record`` (None values included: the writer drops them)."""
    pk, sk = record_key(record)
    if isinstance(record, RefundRecord):
        return {
            "pk": pk,
            "sk": sk,
            "provider": PROVIDER,
            "kind": "ticket_refund",
            "reason": record.reason,
            "refund_id": record.refund_id,
            "ticket_id": record.ticket_id,
            "owner": record.owner,
            "session_id": record.session_id,
            "payment_intent": record.payment_intent,
            "amount": record.amount,
            "currency": record.currency,
            "status": record.status,
            "created_at": record.created_at,
        }
    return {
        "pk": pk,
        "sk": sk,
        "provider": PROVIDER,
        "kind": "ticket_checkout",
        "owner": record.owner,
        "ticket_id": record.ticket_id,
        "event_id": record.event_id,
        "session_id": record.session_id,
        "payment_intent": record.payment_intent,
        "amount": record.amount,
        "currency": record.currency,
        "status": record.status,
        "created_at": record.created_at,
    }
