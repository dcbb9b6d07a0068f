"""Unknown fields: one rule for every route (docs/api.md, "Unknown fields").

Every body, path and query a route reads refuses a field it does not declare with a 400 naming it,
and the refused request writes nothing: no item in any table, no call to Stripe or PayPal. Each
route is tried in a state where the same request without the unknown field succeeds, so that the
400 is the unknown field's doing and the request would otherwise have written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import TABLES
from tests.support.flows import STAFF, create_event, pay, paypal_call, reserved_checkout, stripe_call, verify
from tests.support.lambdas import ApiResult, api_event, call, invoke

UNKNOWN = "phone"


@dataclass
class Request:
    """One route's request that succeeds as it is; ``where`` is the part an unknown field goes into."""

    function: str
    where: str  # "body", "query" or "path"
    fields: dict[str, Any]
    status: int = 200
    user: str = "user-alice"
    groups: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    path: dict[str, str] | None = None  # a body or query route's path parameters, when it has any

    def send(self, extra: dict[str, Any] | None = None) -> ApiResult:
        fields = {**self.fields, **(extra or {})}
        if self.where == "body":
            event = api_event(self.function, fields, user=self.user, groups=self.groups, headers=self.headers, path_params=self.path)
        elif self.where == "path":
            event = api_event(self.function, user=self.user, groups=self.groups, path_params=fields)
        else:
            event = api_event(self.function, user=self.user, groups=self.groups, path_params=self.path)
            event["queryStringParameters"] = fields
        return invoke(self.function, event)


def _paid_ticket(stripe_fake: Any) -> tuple[int, dict[str, Any]]:
    event_id, ticket = reserved_checkout(stripe_fake, quantity=2)
    pay(stripe_fake, ticket["session_id"])
    assert verify(ticket["session_id"], ticket["ticket_id"]).status == 200
    return event_id, ticket


def _intent() -> str:
    created = stripe_call("stripe_create_payment_intent", {"amount": 29.99, "currency": "usd"})
    assert created.status == 200, created.body
    return str(created.body["payment_intent_id"])


def _customer() -> str:
    created = stripe_call("stripe_create_customer", {"email": "user@example.com", "name": "John Doe"})
    assert created.status == 200, created.body
    return str(created.body["customer_id"])


def _order(paypal_fake: Any, *, approved: bool = False, captured: bool = False) -> tuple[str, str | None]:
    body = {"amount": 29.99, "currency": "USD", "description": "Course enrollment", "custom_id": "payment_123"}
    order_id = str(paypal_call("paypal_create_order", body).body["order_id"])
    if not (approved or captured):
        return order_id, None
    paypal_fake.approve(order_id)
    if not captured:
        return order_id, None
    result = paypal_call("paypal_capture_order", {"order_id": order_id})
    assert result.status == 200, result.body
    return order_id, str(result.body["capture_id"])


# Every route the API serves but the two webhooks (whose payloads are the providers': they keep
# ignoring what the providers add, tests/unit/test_models.py): the request, made ready in fresh tables.
ROUTES: dict[str, Callable[[Any, Any], Request]] = {
    # the seed 004 ticket checkout
    "create_ticket_checkout (paid)": lambda s, p: Request(
        "create_ticket_checkout", "body", {"event_id": create_event(price=25), "quantity": 2}
    ),
    "create_ticket_checkout (free)": lambda s, p: Request(
        "create_ticket_checkout", "body", {"event_id": create_event(price=0), "quantity": 1}
    ),
    "verify_ticket_payment": lambda s, p: _verify(s),
    "cancel_ticket_reservation": lambda s, p: Request(
        "cancel_ticket_reservation", "body", {"ticket_id": reserved_checkout(s)[1]["ticket_id"]}
    ),
    # events, my tickets, staff and the door
    "create_event": lambda s, p: Request(
        "create_event", "body", {"name": "Jazz", "price": 25, "currency": "usd", "capacity": 10}, 201, "user-staff", STAFF
    ),
    "create_event (queued)": lambda s, p: Request(
        "create_event",
        "body",
        {"name": "Jazz", "price": 25, "currency": "usd", "capacity": 10, "on_sale_queue": True},
        201,
        "user-staff",
        STAFF,
    ),
    # the on-sale queue
    "join_event_queue": lambda s, p: Request("join_event_queue", "path", {"event_id": str(_queued_event())}),
    "get_event_queue_place": lambda s, p: _queue_place(),
    "get_event_queue_status": lambda s, p: _queue_status(),
    "enable_event_queue": lambda s, p: Request("enable_event_queue", "path", {"event_id": str(create_event())}, 200, "user-staff", STAFF),
    "list_events": lambda s, p: Request("list_events", "query", {"limit": "20", "after": str(create_event())}),
    "get_event": lambda s, p: Request("get_event", "path", {"event_id": str(create_event())}),
    "get_event_sales": lambda s, p: Request("get_event_sales", "path", {"event_id": str(create_event())}, 200, "user-staff", STAFF),
    "get_event_attendees": lambda s, p: Request(
        "get_event_attendees", "query", {"limit": "20"}, 200, "user-staff", STAFF, path={"event_id": str(create_event())}
    ),
    "update_event": lambda s, p: Request(
        "update_event", "body", {"name": "Renamed", "capacity": 120}, 200, "user-staff", STAFF, path={"event_id": str(create_event())}
    ),
    "list_my_tickets": lambda s, p: Request("list_my_tickets", "query", {"limit": "20"}),
    "get_ticket": lambda s, p: Request("get_ticket", "path", {"ticket_id": str(reserved_checkout(s)[1]["ticket_id"])}),
    "refund_ticket": lambda s, p: Request(
        "refund_ticket", "body", {"ticket_id": _paid_ticket(s)[1]["ticket_id"]}, 200, "user-staff", STAFF
    ),
    "check_in_ticket": lambda s, p: _check_in(s),
    # seed 000: Stripe
    "stripe_create_payment_intent": lambda s, p: Request(
        "stripe_create_payment_intent", "body", {"amount": 29.99, "currency": "usd", "metadata": {"course_id": "123"}}
    ),
    "stripe_confirm_payment": lambda s, p: Request(
        "stripe_confirm_payment", "body", {"payment_intent_id": _intent(), "payment_method": "pm_card_visa"}
    ),
    "stripe_retrieve_payment": lambda s, p: Request("stripe_retrieve_payment", "body", {"payment_intent_id": _intent()}),
    "stripe_create_customer": lambda s, p: Request("stripe_create_customer", "body", {"email": "user@example.com", "name": "John Doe"}),
    "stripe_create_subscription": lambda s, p: Request(
        "stripe_create_subscription", "body", {"customer_id": _customer(), "price_id": "price_local_monthly"}
    ),
    "stripe_cancel_subscription": lambda s, p: _cancel_subscription(),
    # seed 000: PayPal
    "paypal_create_order": lambda s, p: Request(
        "paypal_create_order", "body", {"amount": 29.99, "currency": "USD", "description": "Course enrollment", "custom_id": "payment_123"}
    ),
    "paypal_capture_order": lambda s, p: Request("paypal_capture_order", "body", {"order_id": _order(p, approved=True)[0]}),
    "paypal_get_order": lambda s, p: Request("paypal_get_order", "body", {"order_id": _order(p)[0]}),
    "paypal_refund_payment": lambda s, p: Request(
        "paypal_refund_payment",
        "body",
        {"capture_id": _order(p, captured=True)[1], "amount": 10, "currency": "USD", "note_to_payer": "Sorry"},
        200,
        "user-staff",
        STAFF,
    ),
}


def _verify(stripe_fake: Any) -> Request:
    _, ticket = reserved_checkout(stripe_fake)
    pay(stripe_fake, ticket["session_id"])
    return Request("verify_ticket_payment", "body", {"session_id": ticket["session_id"], "ticket_id": ticket["ticket_id"]})


def _queued_event() -> int:
    created = call(
        "create_event",
        {"name": "On-sale", "price": 25, "currency": "usd", "capacity": 10, "on_sale_queue": True},
        user="user-staff",
        groups=STAFF,
    )
    assert created.status == 201, created.body
    return int(created.body["event_id"])


def _queue_place() -> Request:
    event_id = _queued_event()
    joined = call("join_event_queue", path_params={"event_id": str(event_id)})
    assert joined.status == 200, joined.body
    return Request("get_event_queue_place", "path", {"event_id": str(event_id)})


def _queue_status() -> Request:
    """The queue's status: its query (the pass) as a join's queue_status_url carries it."""
    event_id = _queued_event()
    joined = call("join_event_queue", path_params={"event_id": str(event_id)})
    assert joined.status == 200, joined.body
    return Request("get_event_queue_status", "query", {"queue_pass": joined.body["queue_pass"]}, path={"event_id": str(event_id)})


def _check_in(stripe_fake: Any) -> Request:
    event_id, ticket = _paid_ticket(stripe_fake)
    return Request("check_in_ticket", "body", {"ticket_code": ticket["ticket_code"], "event_id": event_id}, 200, "user-door", STAFF)


def _cancel_subscription() -> Request:
    created = stripe_call("stripe_create_subscription", {"customer_id": _customer(), "price_id": "price_local_monthly"})
    assert created.status == 200, created.body
    return Request("stripe_cancel_subscription", "body", {"subscription_id": created.body["subscription_id"]})


def everything_written(dynamodb: Any, stripe_fake: Any, paypal_fake: Any) -> tuple[object, ...]:
    """Every item of every table, and how many calls each provider has had."""
    items = tuple(sorted(map(repr, dynamodb.scan(TableName=table)["Items"])) for table in TABLES.values())
    return (items, len(stripe_fake.exchanges), len(paypal_fake.exchanges))


@pytest.mark.parametrize("route", ROUTES)
def test_an_unknown_field_is_a_400_naming_it_and_writes_nothing(route, dynamodb, stripe_fake, paypal_fake):
    # Given a request that the route carries out as it is
    request = ROUTES[route](stripe_fake, paypal_fake)
    before = everything_written(dynamodb, stripe_fake, paypal_fake)
    # When it comes with one field more
    refused = request.send({UNKNOWN: "+1 555 0100"})
    # Then the field is named, and nothing was written anywhere
    assert (refused.status, refused.body) == (400, {"error": f"{UNKNOWN}: unknown field"})
    assert everything_written(dynamodb, stripe_fake, paypal_fake) == before
    # And without it the same request goes through
    accepted = request.send()
    assert accepted.status == request.status, accepted.body


def test_every_api_route_is_tried():
    """A route added to the API is added above, or this test names it."""
    from local.template import load_template, resources_of_type

    functions = {
        resource["Properties"]["CodeUri"].rsplit("/", 1)[-1]
        for resource in resources_of_type(load_template(), "AWS::Serverless::Function").values()
        if any(event["Type"] == "HttpApi" for event in resource["Properties"].get("Events", {}).values())
    }
    assert functions - {"stripe_webhook", "paypal_webhook"} == {name.split(" ")[0] for name in ROUTES}


# The two create-payment-intent routes: seed 004's ticket purchase and seed 000's payment intent are
# two paths with two bodies; a field of the other body is refused, never taken for its namesake.
def test_a_ticket_purchase_with_a_payment_intents_fields_is_refused(dynamodb, stripe_fake, paypal_fake):
    event_id = create_event(price=25, capacity=10)
    before = everything_written(dynamodb, stripe_fake, paypal_fake)
    refused = call("create_ticket_checkout", {"event_id": event_id, "quantity": 1, "amount": 0.5, "currency": "usd"})
    assert (refused.status, refused.body) == (400, {"error": "amount: unknown field"})
    assert everything_written(dynamodb, stripe_fake, paypal_fake) == before


def test_a_payment_intent_with_a_ticket_purchases_fields_is_refused(dynamodb, stripe_fake, paypal_fake):
    before = everything_written(dynamodb, stripe_fake, paypal_fake)
    refused = stripe_call("stripe_create_payment_intent", {"amount": 29.99, "currency": "usd", "event_id": 15, "quantity": 2})
    assert (refused.status, refused.body) == (400, {"error": "event_id: unknown field"})
    assert everything_written(dynamodb, stripe_fake, paypal_fake) == before
