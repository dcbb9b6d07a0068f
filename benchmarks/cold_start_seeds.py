"""What each function's first request needs to find, so that the cold-start benchmark times a real
answer (2xx) and not a 404 against empty tables: the events, tickets, payment intents, customers,
subscriptions, PayPal orders and captures its sample event names, created afresh for every run
(a run cancels, refunds or admits what it is given: the next one needs its own).

The objects are made through the functions themselves, called in this process (the handlers of
``functions/``, the layer's source) against the same embedded DynamoDB and local providers as the
timed interpreters, before the interpreter starts: nothing here is timed. Each preparer returns
the function's sample event with the ids, bodies and signatures of its own objects.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from local.paypal_fake import PayPalFake
from local.stripe_fake import StripeFake, sign_payload

STAFF = "[staff]"
# The sample events' callers (events/*.json): the customer and the staff member.
CUSTOMER = "user-alice"
STAFF_USER = "user-staff"

# The HTTP functions whose sample event names nothing that must exist first: their first request is
# a real answer against empty tables (a creation, or a list). Every other HTTP function of the
# template has a preparer (tests/integration/test_cold_start_seeds.py keeps it so).
NEEDS_NOTHING = frozenset({"create_event", "list_events", "paypal_create_order", "stripe_create_customer", "stripe_create_payment_intent"})


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The handlers' metric lines (EMF on stdout) and logs stay out of the benchmark's report."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


class Seeds:
    """Objects for the first requests, through the functions, in this process."""

    def __init__(self, environment: dict[str, str], stripe: StripeFake, paypal: PayPalFake) -> None:
        self._stripe = stripe
        self._paypal = paypal
        self._webhook_secret = environment["STRIPE_WEBHOOK_SECRET"]
        os.environ.update(environment | {"POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true"})
        from payments import wiring

        wiring.reset()
        self._round = -1
        self._events: dict[str, int] = {}
        self.preparers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "admit_event_queues": self._admit,
            "cancel_ticket_reservation": self._cancel,
            "check_in_ticket": self._check_in,
            "create_ticket_checkout": self._checkout,
            "enable_event_queue": self._enable_queue,
            "get_event": self._get_event,
            "get_event_attendees": self._attendees,
            "get_event_queue_place": self._queue_place,
            "get_event_queue_status": self._queue_status,
            "get_event_sales": self._sales,
            "get_ticket": self._get_ticket,
            "join_event_queue": self._join_queue,
            "list_my_tickets": self._my_tickets,
            "paypal_capture_order": self._paypal_capture,
            "paypal_get_order": self._paypal_get,
            "paypal_refund_payment": self._paypal_refund,
            "paypal_webhook": self._paypal_webhook,
            "refund_ticket": self._refund,
            "stripe_cancel_subscription": self._cancel_subscription,
            "stripe_confirm_payment": self._confirm,
            "stripe_create_subscription": self._create_subscription,
            "stripe_retrieve_payment": self._retrieve,
            "stripe_webhook": self._stripe_webhook,
            "update_event": self._update_event,
            "verify_ticket_payment": self._verify,
        }

    # the round's events ------------------------------------------------------------------------
    def new_round(self) -> None:
        """A paid and a free event of the round's own: a customer's per-event limits of unpaid and
        free seats hold for every round alike."""
        self._round += 1
        from tests.support.flows import create_event

        with _quiet():
            self._events = {
                "paid": create_event(price=25, capacity=100, name=f"Cold start {self._round}"),
                "free": create_event(price=0, capacity=100, name=f"Cold start free {self._round}"),
            }

    def prepare(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        """The sample event for this round's run of ``function`` (unchanged when it needs nothing)."""
        preparer = self.preparers.get(function)
        if preparer is None:
            return event
        with _quiet():
            return preparer(json.loads(json.dumps(event)))

    # helpers ---------------------------------------------------------------------------------
    @staticmethod
    def _with_body(event: dict[str, Any], **fields: Any) -> dict[str, Any]:
        body = json.loads(event.get("body") or "{}")
        event["body"] = json.dumps(body | fields)
        return event

    @staticmethod
    def _ok(result: Any) -> dict[str, Any]:
        if result.status >= 300:
            raise RuntimeError(f"seeding a first request failed: {result.status} {result.body}")
        return dict(result.body)

    @staticmethod
    def _at_event(event: dict[str, Any], event_id: int) -> dict[str, Any]:
        """The sample event aimed at event ``event_id`` (its path parameter and its path)."""
        event["pathParameters"] = {"event_id": str(event_id)}
        for holder in (event, event.get("requestContext", {}).get("http", {})):
            key = "rawPath" if "rawPath" in holder else "path"
            if key in holder:
                holder[key] = holder[key].replace("/events/15/", f"/events/{event_id}/", 1)
        return event

    def _fresh_event(self, queued: bool = False) -> int:
        """An event of the run's own, before its sale (no seat taken), sold through the on-sale
        queue where ``queued``: what an edit, enabling the queue or joining it changes."""
        from tests.support.lambdas import call

        body = {"name": f"Cold start {self._round} edit", "price": 25, "currency": "usd", "capacity": 100, "on_sale_queue": queued}
        return int(self._ok(call("create_event", body, user=STAFF_USER, groups=STAFF))["event_id"])

    def _reserved(self) -> dict[str, Any]:
        from tests.support.flows import buy

        return self._ok(buy(self._events["paid"], 1, user=CUSTOMER))

    def _paid(self) -> dict[str, Any]:
        """A ticket paid at Stripe and settled (verified) by our API."""
        from tests.support.flows import verify

        ticket = self._reserved()
        self._stripe.complete_session(ticket["session_id"])
        return self._ok(verify(ticket["session_id"], ticket["ticket_id"], user=CUSTOMER)) | ticket

    def _payment_intent(self) -> str:
        from tests.support.flows import stripe_call

        return str(self._ok(stripe_call("stripe_create_payment_intent", {"amount": 29.99, "currency": "usd"}))["payment_intent_id"])

    def _customer(self) -> str:
        from tests.support.flows import stripe_call

        body = {"email": "user@example.com", "name": "Cold Start"}
        return str(self._ok(stripe_call("stripe_create_customer", body, user=CUSTOMER))["customer_id"])

    def _paypal_order(self, approved: bool) -> str:
        from tests.support.flows import paypal_call

        order = self._ok(paypal_call("paypal_create_order", {"amount": 29.99, "currency": "USD"}, user=CUSTOMER))
        if approved:
            self._paypal.approve(order["order_id"])
        return str(order["order_id"])

    def _paypal_captured(self) -> str:
        from tests.support.flows import paypal_call

        order_id = self._paypal_order(approved=True)
        return str(self._ok(paypal_call("paypal_capture_order", {"order_id": order_id}, user=CUSTOMER))["capture_id"])

    # one preparer per function whose request names something ------------------------------------
    def _admit(self, event: dict[str, Any]) -> dict[str, Any]:
        """One queue with a buyer waiting: the admitter's first step (the benchmark times that step
        alone) admits them. Earlier runs' queues are taken off the registry of queues, so that every
        run steps one queue, not one more a round."""
        from payments import dynamodb
        from payments.repositories.queue import REGISTRY
        from payments.settings import get_settings
        from tests.support.lambdas import call

        client, table = dynamodb.get_client(), get_settings().tickets_table
        listed = client.query(
            TableName=table, KeyConditionExpression="pk = :registry", ExpressionAttributeValues={":registry": {"S": REGISTRY}}
        )
        for item in listed.get("Items", []):
            client.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
        event_id = self._fresh_event(queued=True)
        self._ok(call("join_event_queue", path_params={"event_id": str(event_id)}, user=CUSTOMER))
        return event

    def _cancel(self, event: dict[str, Any]) -> dict[str, Any]:
        return self._with_body(event, ticket_id=self._reserved()["ticket_id"])

    def _check_in(self, event: dict[str, Any]) -> dict[str, Any]:
        from tests.support.flows import buy

        ticket = self._ok(buy(self._events["free"], 1, user=CUSTOMER))
        return self._with_body(event, ticket_code=ticket["ticket_code"], event_id=self._events["free"])

    def _checkout(self, event: dict[str, Any]) -> dict[str, Any]:
        return self._with_body(event, event_id=self._events["paid"], quantity=1)

    def _enable_queue(self, event: dict[str, Any]) -> dict[str, Any]:
        """An event before its sale, not yet queued: the staff's request queues it (a queued one
        would be answered as it is, without the write)."""
        return self._at_event(event, self._fresh_event())

    def _get_event(self, event: dict[str, Any]) -> dict[str, Any]:
        return self._at_event(event, self._events["paid"])

    def _attendees(self, event: dict[str, Any]) -> dict[str, Any]:
        """The round's paid event with a paid ticket more: the export has a buyer to list."""
        self._paid()
        return self._at_event(event, self._events["paid"])

    def _join_queue(self, event: dict[str, Any]) -> dict[str, Any]:
        """A queued event of the run's own: the customer's join takes a place (one per account)."""
        return self._at_event(event, self._fresh_event(queued=True))

    def _queue_place(self, event: dict[str, Any]) -> dict[str, Any]:
        """A queued event the customer has joined: the poll reads their place."""
        from tests.support.lambdas import call

        event_id = self._fresh_event(queued=True)
        self._ok(call("join_event_queue", path_params={"event_id": str(event_id)}, user=CUSTOMER))
        return self._at_event(event, event_id)

    def _queue_status(self, event: dict[str, Any]) -> dict[str, Any]:
        """A queued event the customer has joined, asked for with their pass (as the join answer's
        queue_status_url carries it): the queue's shared status is read."""
        from urllib.parse import urlencode

        from tests.support.lambdas import call

        event_id = self._fresh_event(queued=True)
        joined = self._ok(call("join_event_queue", path_params={"event_id": str(event_id)}, user=CUSTOMER))
        event["queryStringParameters"] = {"queue_pass": str(joined["queue_pass"])}
        event["rawQueryString"] = urlencode(event["queryStringParameters"])
        return self._at_event(event, event_id)

    def _update_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """An event of the run's own: the sample edit (price, capacity, the sale's close) applies to it."""
        return self._at_event(event, self._fresh_event())

    def _sales(self, event: dict[str, Any]) -> dict[str, Any]:
        self._paid()
        return self._get_event(event)

    def _get_ticket(self, event: dict[str, Any]) -> dict[str, Any]:
        event["pathParameters"] = {"ticket_id": str(self._paid()["ticket_id"])}
        return event

    def _my_tickets(self, event: dict[str, Any]) -> dict[str, Any]:
        self._paid()
        return event

    def _paypal_capture(self, event: dict[str, Any]) -> dict[str, Any]:
        return self._with_body(event, order_id=self._paypal_order(approved=True))

    def _paypal_get(self, event: dict[str, Any]) -> dict[str, Any]:
        return self._with_body(event, order_id=self._paypal_order(approved=False))

    def _paypal_refund(self, event: dict[str, Any]) -> dict[str, Any]:
        return self._with_body(event, capture_id=self._paypal_captured())

    def _paypal_webhook(self, event: dict[str, Any]) -> dict[str, Any]:
        """PayPal's PAYMENT.CAPTURE.COMPLETED for a capture of ours, signed as PayPal signs it."""
        capture_id = self._paypal_captured()
        delivered = next(
            item
            for item in reversed(self._paypal.events)
            if item.get("event_type") == "PAYMENT.CAPTURE.COMPLETED" and item.get("resource", {}).get("id") == capture_id
        )
        payload = json.dumps(delivered)
        event["body"], event["isBase64Encoded"] = payload, False
        headers = {name.lower(): value for name, value in self._paypal.sign(payload.encode(), delivered).items()}
        event["headers"] = {"content-type": "application/json", **headers}
        return event

    def _refund(self, event: dict[str, Any]) -> dict[str, Any]:
        return self._with_body(event, ticket_id=self._paid()["ticket_id"])

    def _cancel_subscription(self, event: dict[str, Any]) -> dict[str, Any]:
        from tests.support.flows import stripe_call

        customer = self._customer()
        body = {"customer_id": customer, "price_id": "price_local_monthly"}
        subscription = self._ok(stripe_call("stripe_create_subscription", body, user=CUSTOMER))
        return self._with_body(event, subscription_id=subscription["subscription_id"])

    def _confirm(self, event: dict[str, Any]) -> dict[str, Any]:
        return self._with_body(event, payment_intent_id=self._payment_intent(), payment_method="pm_card_visa")

    def _create_subscription(self, event: dict[str, Any]) -> dict[str, Any]:
        return self._with_body(event, customer_id=self._customer(), price_id="price_local_monthly")

    def _retrieve(self, event: dict[str, Any]) -> dict[str, Any]:
        return self._with_body(event, payment_intent_id=self._payment_intent())

    def _stripe_webhook(self, event: dict[str, Any]) -> dict[str, Any]:
        """Stripe's checkout.session.completed for a reservation of ours, signed now."""
        ticket = self._reserved()
        completed = self._stripe.complete_session(ticket["session_id"])
        payload = json.dumps(completed)
        event["body"], event["isBase64Encoded"] = payload, False
        event["headers"] = {
            "content-type": "application/json",
            "stripe-signature": sign_payload(payload.encode(), self._webhook_secret, int(time.time())),
        }
        return event

    def _verify(self, event: dict[str, Any]) -> dict[str, Any]:
        ticket = self._reserved()
        self._stripe.complete_session(ticket["session_id"])
        return self._with_body(event, session_id=ticket["session_id"], ticket_id=ticket["ticket_id"])
