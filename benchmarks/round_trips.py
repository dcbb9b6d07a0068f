"""Remote calls per request, counted (not estimated): DynamoDB operations and provider HTTP calls for
each flow, with the handlers running in process against moto and the local Stripe and PayPal.

    python -m benchmarks.round_trips
"""

from __future__ import annotations

import logging
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto import mock_aws

from benchmarks import settings_for
from local.paypal_fake import PayPalFake
from local.stripe_fake import StripeFake
from local.template import create_tables
from tests.support.flows import (
    buy,
    create_event,
    deliver_webhook,
    pay,
    paypal_call,
    stripe_call,
    verify,
)
from tests.support.lambdas import call
from tests.support.servers import serve

TABLES = {"TicketsTable": "bench-tickets", "PaymentsTable": "bench-payments", "IdempotencyTable": "bench-idempotency"}


class Counts:
    def __init__(self) -> None:
        self.dynamodb: Counter[str] = Counter()

    def on_call(self, model: Any, **_: Any) -> None:
        self.dynamodb[model.name] += 1


@contextmanager
def environment() -> Iterator[tuple[Counts, StripeFake, PayPalFake]]:
    stripe_fake, paypal_fake = StripeFake(), PayPalFake()
    with serve(stripe_fake) as stripe_url, serve(paypal_fake) as paypal_url, mock_aws():
        stripe_fake.public_url, paypal_fake.public_url = stripe_url, paypal_url
        os.environ.update(
            settings_for(
                TABLES,
                stripe_url,
                PAYPAL_API_BASE=paypal_url,
                PAYPAL_CLIENT_ID=paypal_fake.client_id,
                PAYPAL_CLIENT_SECRET=paypal_fake.client_secret,
                PAYPAL_WEBHOOK_ID=paypal_fake.webhook_id,
                POWERTOOLS_LOG_LEVEL="ERROR",
            )
        )
        create_tables(boto3.client("dynamodb"), TABLES)
        from payments.dynamodb import get_client

        counts = Counts()
        get_client().meta.events.register("before-call.dynamodb.*", counts.on_call)
        yield counts, stripe_fake, paypal_fake


def measure(counts: Counts, stripe_fake: StripeFake, paypal_fake: PayPalFake, flow: Callable[[], Any]) -> tuple[Counter[str], int, int]:
    counts.dynamodb.clear()
    stripe_before, paypal_before = len(stripe_fake.requests), len(paypal_fake.exchanges)
    result = flow()
    status = getattr(result, "status", 200)
    if status >= 400:
        raise RuntimeError(f"flow failed: {result}")
    return Counter(counts.dynamodb), len(stripe_fake.requests) - stripe_before, len(paypal_fake.exchanges) - paypal_before


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    rows: list[tuple[str, str, Counter[str], int, int]] = []
    failures: list[str] = []
    with environment() as (counts, stripe_fake, paypal_fake):
        free_event, paid_event = create_event(price=0, capacity=1000), create_event(price=25, capacity=1000)

        def record(endpoint: str, flow_name: str, flow: Callable[[], Any]) -> Counter[str]:
            dynamo, stripe_calls, paypal_calls = measure(counts, stripe_fake, paypal_fake, flow)
            rows.append((endpoint, flow_name, dynamo, stripe_calls, paypal_calls))
            return dynamo

        record(
            "POST /api/events/",
            "create an event",
            lambda: call("create_event", {"name": "B", "price": 5, "currency": "usd", "capacity": 10}, user="s", groups="[staff]"),
        )
        record("GET /api/events/{id}/", "read an event", lambda: call("get_event", path_params={"event_id": str(free_event)}))
        free = record("POST /api/payments/create-payment-intent/", "free ticket", lambda: buy(free_event, 1))
        paid = record("POST /api/payments/create-payment-intent/", "paid: reserve + Checkout Session", lambda: buy(paid_event, 1))
        if free["TransactWriteItems"] != 1 or paid["TransactWriteItems"] != 1:
            failures.append("a reservation is not one DynamoDB transaction")

        ticket = buy(paid_event, 1).body
        pay(stripe_fake, ticket["session_id"])
        counted = record(
            "POST /api/payments/verify/",
            "verify: paid at Stripe, webhook not yet in",
            lambda: verify(ticket["session_id"], ticket["ticket_id"]),
        )
        # Two Stripe reads: the session, and its payment's refunds (a payment all gone back never seats).
        if counted["GetItem"] > 1 or sum(counted.values()) > 2 or rows[-1][3] > 2:
            failures.append("verify of a paid ticket takes more than one read, two provider calls and one conditional write")
        record("POST /api/payments/verify/", "verify: again", lambda: verify(ticket["session_id"], ticket["ticket_id"]))

        ticket = buy(paid_event, 1).body
        event = pay(stripe_fake, ticket["session_id"])
        record("POST /api/v1/payments/webhooks/stripe/", "checkout.session.completed", lambda: deliver_webhook(event))
        counted = record(
            "POST /api/payments/verify/", "verify: webhook already paid it", lambda: verify(ticket["session_id"], ticket["ticket_id"])
        )
        if sum(counted.values()) != 1 or rows[-1][3] != 0:
            failures.append("verify after the webhook is not a single read")
        record("POST /api/v1/payments/webhooks/stripe/", "replayed event", lambda: deliver_webhook(event))
        record(
            "GET /api/tickets/{id}/",
            "one's own paid ticket",
            lambda: call("get_ticket", path_params={"ticket_id": str(ticket["ticket_id"])}),
        )
        record("GET /api/tickets/", "one's own tickets", lambda: call("list_my_tickets"))
        counted = record(
            "POST /api/tickets/check-in/",
            "admit everyone",
            lambda: call("check_in_ticket", {"ticket_code": ticket["ticket_code"], "event_id": paid_event}, user="door", groups="[staff]"),
        )
        if counted["UpdateItem"] != 1:
            failures.append("a check-in is not one conditional write")
        record(
            "GET /api/events/{id}/sales/",
            "an event's sales",
            lambda: call("get_event_sales", path_params={"event_id": str(paid_event)}, user="s", groups="[staff]"),
        )

        ticket = buy(paid_event, 1).body
        record(
            "POST /api/payments/cancel/",
            "cancel a reservation",
            lambda: call("cancel_ticket_reservation", {"ticket_id": ticket["ticket_id"]}),
        )
        given = buy(free_event, 1).body
        counted = record(
            "POST /api/payments/cancel/",
            "give a free ticket back",
            lambda: call("cancel_ticket_reservation", {"ticket_id": given["ticket_id"]}),
        )
        if counted["TransactWriteItems"] != 1 or sum(counted.values()) != 2:
            failures.append("giving a free ticket back is not one read and one transaction")

        intent = {}

        def create_intent() -> Any:
            result = stripe_call("stripe_create_payment_intent", {"amount": 20, "currency": "usd"})
            intent.update(result.body)
            return result

        record("POST .../stripe/create-payment-intent/", "without Idempotency-Key", create_intent)
        record(
            "POST .../stripe/create-payment-intent/",
            "with Idempotency-Key",
            lambda: stripe_call("stripe_create_payment_intent", {"amount": 20, "currency": "usd"}, key="k1"),
        )
        record(
            "POST .../stripe/create-payment-intent/",
            "retry of that key",
            lambda: stripe_call("stripe_create_payment_intent", {"amount": 20, "currency": "usd"}, key="k1"),
        )
        record(
            "POST .../stripe/confirm-payment/",
            "confirm",
            lambda: stripe_call(
                "stripe_confirm_payment", {"payment_intent_id": intent["payment_intent_id"], "payment_method": "pm_card_visa"}
            ),
        )
        record(
            "POST .../stripe/retrieve-payment/",
            "retrieve",
            lambda: stripe_call("stripe_retrieve_payment", {"payment_intent_id": intent["payment_intent_id"]}),
        )

        order: dict[str, Any] = {}

        def create_order() -> Any:
            result = paypal_call("paypal_create_order", {"amount": 20, "currency": "USD"})
            order.update(result.body)
            return result

        record("POST .../paypal/create-order/", "first call of a container (token)", create_order)
        record("POST .../paypal/create-order/", "warm (token cached)", create_order)
        paypal_fake.approve(order["order_id"])
        capture: dict[str, Any] = {}

        def capture_order() -> Any:
            result = paypal_call("paypal_capture_order", {"order_id": order["order_id"]})
            capture.update(result.body)
            return result

        record("POST .../paypal/capture-order/", "capture", capture_order)
        record(
            "POST .../paypal/refund-payment/",
            "refund",
            lambda: paypal_call("paypal_refund_payment", {"capture_id": capture["capture_id"]}, user="s", groups="[staff]"),
        )

    print(f"{'endpoint':<44} {'flow':<44} {'DynamoDB calls':<44} {'Stripe':>6} {'PayPal':>6}")
    for endpoint, flow_name, dynamo, stripe_calls, paypal_calls in rows:
        calls = ", ".join(f"{count} {name}" for name, count in sorted(dynamo.items())) or "-"
        print(f"{endpoint:<44} {flow_name:<44} {calls:<44} {stripe_calls:>6} {paypal_calls:>6}")
    if failures:
        print("\nTargets missed:\n  " + "\n  ".join(failures))
        return 1
    print(
        "\nReservation in one transaction; paid verify in <= 1 read + 2 provider calls + 1 conditional write; verify after the webhook in 1 read."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
