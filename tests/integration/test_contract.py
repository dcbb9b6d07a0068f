"""Every endpoint's requests and answers, successes and errors, against docs/openapi.yaml."""

import json

import pytest

from local.stripe_fake import sign_payload
from tests.support.contract import validate_exchange
from tests.support.lambdas import LambdaContext, api_event, load_module

STAFF = "[staff]"


class Recorder:
    def __init__(self):
        self.exchanges = []

    def __call__(self, function, body=None, *, well_formed=True, **options):
        event = api_event(function, body, **options)
        response = load_module(function).lambda_handler(event, LambdaContext(function_name=function))
        self.exchanges.append((function, event, response, well_formed))
        return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def record(dynamodb, stripe_fake, paypal_fake):
    return Recorder()


def test_every_answer_matches_the_document(record, stripe_fake, paypal_fake):
    # events and tickets
    _, free = record("create_event", {"name": "Free", "price": 0, "currency": "usd", "capacity": 5}, user="staff", groups=STAFF)
    _, paid = record("create_event", {"name": "Paid", "price": 12.5, "currency": "usd", "capacity": 5}, user="staff", groups=STAFF)
    record("create_event", {"name": "X", "price": 1, "currency": "usd", "capacity": 5})  # 403
    record("create_event", {"name": "X", "price": "1", "currency": "usd", "capacity": 5}, user="staff", groups=STAFF, well_formed=False)
    record("get_event", path_params={"event_id": str(paid["event_id"])})
    record("get_event", path_params={"event_id": "99999"})
    record("create_ticket_checkout", {"event_id": free["event_id"], "quantity": 1})
    _, ticket = record("create_ticket_checkout", {"event_id": paid["event_id"], "quantity": 2})
    record("create_ticket_checkout", {"event_id": paid["event_id"], "quantity": 50}, well_formed=False)
    record("create_ticket_checkout", {"event_id": 4242, "quantity": 1})
    record("verify_ticket_payment", {"session_id": ticket["session_id"], "ticket_id": ticket["ticket_id"]})  # not paid yet
    stripe_fake.complete_session(ticket["session_id"])
    record("verify_ticket_payment", {"session_id": ticket["session_id"], "ticket_id": ticket["ticket_id"]})
    record("verify_ticket_payment", {"session_id": ticket["session_id"], "ticket_id": ticket["ticket_id"]}, user="user-bob")
    record("cancel_ticket_reservation", {"ticket_id": ticket["ticket_id"]})  # already paid
    _, other = record("create_ticket_checkout", {"event_id": paid["event_id"], "quantity": 1})
    record("cancel_ticket_reservation", {"ticket_id": other["ticket_id"]})
    record("cancel_ticket_reservation", {"ticket_id": 777})
    # Stripe
    _, intent = record("stripe_create_payment_intent", {"amount": 29.99, "currency": "usd", "metadata": {"course_id": "123"}})
    record("stripe_create_payment_intent", {"amount": 29.999, "currency": "usd"}, well_formed=True)
    record("stripe_confirm_payment", {"payment_intent_id": intent["payment_intent_id"], "payment_method": "pm_card_threeDSecure2Required"})
    record("stripe_retrieve_payment", {"payment_intent_id": intent["payment_intent_id"]})
    record("stripe_retrieve_payment", {"payment_intent_id": intent["payment_intent_id"]}, user="user-bob")
    _, customer = record("stripe_create_customer", {"email": "user@example.com", "name": "John Doe"})
    _, subscription = record("stripe_create_subscription", {"customer_id": customer["customer_id"], "price_id": "price_local_monthly"})
    record("stripe_cancel_subscription", {"subscription_id": subscription["subscription_id"]})
    record("stripe_cancel_subscription", {"subscription_id": "sub_unknown"})
    # PayPal
    _, order = record(
        "paypal_create_order", {"amount": 29.99, "currency": "USD", "description": "Course enrollment", "custom_id": "payment_123"}
    )
    record("paypal_capture_order", {"order_id": order["order_id"]})  # not approved: 400
    paypal_fake.approve(order["order_id"])
    _, capture = record("paypal_capture_order", {"order_id": order["order_id"]})
    record("paypal_get_order", {"order_id": order["order_id"]})
    record(
        "paypal_refund_payment",
        {"capture_id": capture["capture_id"], "amount": 10, "currency": "USD", "note_to_payer": "Sorry"},
        user="staff",
        groups=STAFF,
    )
    record("paypal_refund_payment", {"capture_id": capture["capture_id"]}, user="user-alice")  # 403
    # webhooks
    payload = json.dumps(stripe_fake.events[-1])
    record("stripe_webhook", raw_body=payload, headers={"stripe-signature": sign_payload(payload.encode(), "whsec_test_local_only")})
    record("stripe_webhook", raw_body=payload, headers={"stripe-signature": "t=1,v1=forged"})

    statuses = {response["statusCode"] for _, _, response, _ in record.exchanges}
    assert {200, 201, 400, 403, 404} <= statuses
    for function, event, response, well_formed in record.exchanges:
        try:
            validate_exchange(event, response, check_request=well_formed and response["statusCode"] < 400)
        except Exception as error:
            raise AssertionError(f"{function} {response['statusCode']} {response['body'][:300]}") from error
