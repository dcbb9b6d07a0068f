"""The direct Stripe endpoints of seed 000, against the local Stripe over HTTP (the real SDK runs)."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from local.stripe_fake import billing, payment_intents
from tests.conftest import TABLES
from tests.support.dynamo import PAYMENTS, SerialisedClient, items_with_prefix
from tests.support.flows import deliver_webhook, stripe_call
from tests.support.lambdas import call


def create_intent(amount=29.99, currency="usd", user="user-alice", key=None, **extra):
    return stripe_call("stripe_create_payment_intent", {"amount": amount, "currency": currency, **extra}, user=user, key=key)


def create_customer(user="user-alice", key=None):
    return stripe_call(
        "stripe_create_customer",
        {"email": "user@example.com", "name": "John Doe", "metadata": {"organization_id": "org_123"}},
        user=user,
        key=key,
    )


# create-payment-intent ---------------------------------------------------------------------------
def test_create_payment_intent_answers_the_seed_fields(dynamodb, stripe_fake):
    result = create_intent(29.99, "usd", metadata={"course_id": "123", "description": "Course enrollment"})
    assert result.status == 200
    body = result.body
    assert body["payment_intent_id"].startswith("pi_")
    assert body["client_secret"].startswith(body["payment_intent_id"] + "_secret_")
    assert (body["status"], body["amount"], body["currency"]) == ("requires_payment_method", 2999, "usd")
    assert isinstance(body["amount"], int)
    intent = stripe_fake.payment_intents[body["payment_intent_id"]]
    assert intent["metadata"] == {"course_id": "123", "description": "Course enrollment", "user_id": "user-alice"}
    assert intent["automatic_payment_methods"] == {"enabled": True}
    [record] = items_with_prefix(dynamodb, PAYMENTS, "STRIPE#payment_intent#")
    assert (record["owner"], record["amount"], record["currency"]) == ("user-alice", 2999, "usd")


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (29.99, "usd", 2999),
        (5000, "jpy", 5000),
        (1.25, "kwd", 1250),
        (10, "EUR", 1000),
        (0.5, "usd", 50),
        (450, "isk", 45000),
        (5000.5, "huf", 500050),  # Stripe charges HUF with decimals (PayPal does not)
    ],
)
def test_amounts_go_to_stripe_in_the_currencys_minor_units(dynamodb, stripe_fake, amount, currency, minor):
    result = create_intent(amount, currency)
    assert result.status == 200, result.body
    assert stripe_fake.payment_intents[result.body["payment_intent_id"]]["amount"] == minor


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": 29.999, "currency": "usd"}, "amount"),
        ({"amount": 100.5, "currency": "jpy"}, "amount"),
        ({"amount": 1.234, "currency": "kwd"}, "amount"),
        ({"amount": 450.5, "currency": "isk"}, "amount"),  # whole krónur only
        ({"amount": 0, "currency": "usd"}, "amount"),
        ({"amount": -5, "currency": "usd"}, "amount"),
        ({"amount": 0.49, "currency": "usd"}, "amount"),
        ({"amount": 10000.01, "currency": "usd"}, "amount"),
        ({"amount": "29.99", "currency": "usd"}, "amount"),
        ({"amount": True, "currency": "usd"}, "amount"),
        ({"amount": 10, "currency": "btc"}, "currency"),
        ({"amount": 10, "currency": "chf"}, "currency"),
        ({"amount": 10}, "currency"),
        ({"amount": 10, "currency": "usd", "metadata": {"n": 1}}, "metadata"),
        ({"amount": 10, "currency": "usd", "metadata": {"k" * 41: "v"}}, "metadata"),
        ({"amount": 10, "currency": "usd", "metadata": {"k": "v" * 501}}, "metadata"),
        ({"amount": 10, "currency": "usd", "metadata": {f"k{i}": "v" for i in range(50)}}, "metadata"),
        ({"amount": 10, "currency": "usd", "metadata": {"user_id": "someone-else"}}, "metadata"),
        ({"amount": 10, "currency": "usd", "metadata": ["a"]}, "metadata"),
    ],
)
def test_bad_payment_intents_are_400_naming_the_field_and_reach_nobody(dynamodb, stripe_fake, body, field):
    result = stripe_call("stripe_create_payment_intent", body)
    assert result.status == 400
    assert result.body["error"].startswith(f"{field}")
    assert stripe_fake.requests == []
    assert items_with_prefix(dynamodb, PAYMENTS, "") == []


def test_without_an_idempotency_key_each_call_is_its_own_payment(dynamodb, stripe_fake):
    first, second = create_intent(), create_intent()
    assert first.body["payment_intent_id"] != second.body["payment_intent_id"]
    keys = [key for _, path, key in stripe_fake.requests]
    assert len(set(keys)) == 2 and all(keys)


def test_a_retried_request_returns_the_first_answer_and_creates_nothing_twice(dynamodb, stripe_fake):
    first = create_intent(key="order-42")
    second = create_intent(key="order-42")
    assert (second.status, second.body) == (200, first.body)
    assert len(stripe_fake.payment_intents) == 1
    assert len(items_with_prefix(dynamodb, PAYMENTS, "STRIPE#")) == 1


def test_the_same_key_with_another_body_is_422(dynamodb, stripe_fake):
    assert create_intent(10, key="order-43").status == 200
    result = create_intent(11, key="order-43")
    assert result.status == 422
    assert "different request body" in result.body["error"]
    assert len(stripe_fake.payment_intents) == 1


@pytest.mark.parametrize("written", [10.0, 10.00, "1E+1"])
def test_the_same_amount_written_differently_is_the_same_request(dynamodb, stripe_fake, written):
    first = create_intent(10, key="order-45")
    again = stripe_call(
        "stripe_create_payment_intent", raw=f'{{"amount": {written}, "currency": "usd"}}', user="user-alice", key="order-45"
    )
    assert (again.status, again.body) == (200, first.body)
    assert len(stripe_fake.payment_intents) == 1


def test_a_confirm_key_reused_with_another_body_is_422_and_never_shows_a_key(dynamodb, stripe_fake):
    intent_id = create_intent().body["payment_intent_id"]
    first = stripe_call(
        "stripe_confirm_payment", {"payment_intent_id": intent_id, "payment_method": "pm_card_visa"}, user="user-alice", key="confirm-1"
    )
    assert first.status == 200
    other = stripe_call(
        "stripe_confirm_payment",
        {"payment_intent_id": intent_id, "payment_method": "pm_card_mastercard"},
        user="user-alice",
        key="confirm-1",
    )
    assert (other.status, other.body) == (422, {"error": "Idempotency-Key was already used with a different request body"})
    replay = stripe_call(
        "stripe_confirm_payment", {"payment_intent_id": intent_id, "payment_method": "pm_card_visa"}, user="user-alice", key="confirm-1"
    )
    assert (replay.status, replay.body) == (200, first.body)


def test_stripe_refusing_a_reused_key_never_shows_the_key_we_derived(dynamodb, stripe_fake):
    from payments.errors import Unprocessable
    from payments.providers.stripe_gateway import _translated_errors

    with pytest.raises(Unprocessable) as refused, _translated_errors("payment_intents.confirm"):
        import stripe

        raise stripe.IdempotencyError("Keys for idempotent requests ... Try using a key other than 'confirm-pi_1-abc123'")
    assert "confirm-" not in refused.value.message


def test_keys_are_scoped_to_the_caller(dynamodb, stripe_fake):
    alice = create_intent(key="shared-key", user="user-alice")
    bob = create_intent(key="shared-key", user="user-bob")
    assert alice.body["payment_intent_id"] != bob.body["payment_intent_id"]
    alice_key, bob_key = (key for _, _, key in stripe_fake.requests)
    assert alice_key != bob_key


def test_a_duplicate_while_the_first_is_running_is_409_with_retry_after(dynamodb, stripe_fake, monkeypatch):
    from payments import dynamodb as dynamodb_module

    serialised = SerialisedClient(dynamodb)
    monkeypatch.setattr(dynamodb_module, "get_client", lambda: serialised)
    from payments import idempotency

    idempotency.persistence_layer.cache_clear()  # rebuilt on the serialised client
    stripe_fake.delay_next("/v1/payment_intents", 2.0)
    with ThreadPoolExecutor(max_workers=2) as pool:
        slow = pool.submit(create_intent, 10, "usd", "user-alice", "order-44")
        # The duplicate is sent once the first has recorded that it is in progress (it is then held
        # at Stripe for 2 s), not after a fixed pause: on a busy machine the first may not have
        # started within any pause, and the duplicate would have become the first.
        deadline = time.monotonic() + 30
        while not serialised.scan(TableName=TABLES["IdempotencyTable"])["Items"]:
            assert time.monotonic() < deadline, "the first request never started"
            time.sleep(0.01)
        duplicate = create_intent(10, key="order-44")
    assert slow.result().status == 200
    assert (duplicate.status, duplicate.headers.get("Retry-After")) == (409, "1")
    assert len(stripe_fake.payment_intents) == 1


def test_a_malformed_idempotency_key_is_400(dynamodb, stripe_fake):
    result = create_intent(key="x" * 300)
    assert result.status == 400
    assert result.body["error"].startswith("Idempotency-Key")


# confirm-payment ---------------------------------------------------------------------------------
def confirm(intent_id, user="user-alice", **extra):
    return stripe_call("stripe_confirm_payment", {"payment_intent_id": intent_id, **extra}, user=user)


def test_confirm_with_a_card_succeeds(dynamodb, stripe_fake):
    intent_id = create_intent().body["payment_intent_id"]
    result = confirm(intent_id, payment_method="pm_card_visa")
    assert result.status == 200
    assert result.body == {"confirmed": True, "payment_intent_id": intent_id, "status": "succeeded", "requires_action": False}


def test_confirm_that_needs_3d_secure_says_so_instead_of_a_false_success(dynamodb, stripe_fake):
    created = create_intent().body
    result = confirm(created["payment_intent_id"], payment_method="pm_card_threeDSecure2Required")
    assert result.status == 200
    assert result.body["confirmed"] is False
    assert result.body["requires_action"] is True
    assert result.body["status"] == "requires_action"
    assert result.body["client_secret"] == created["client_secret"]
    assert result.body["next_action"] == "use_stripe_sdk"


def test_a_declined_card_is_400_with_stripes_message(dynamodb, stripe_fake):
    intent_id = create_intent().body["payment_intent_id"]
    result = confirm(intent_id, payment_method="pm_card_chargeDeclined")
    assert (result.status, result.body) == (400, {"error": "Your card was declined."})


def test_confirm_without_a_payment_method_is_400(dynamodb, stripe_fake):
    intent_id = create_intent().body["payment_intent_id"]
    result = confirm(intent_id)
    assert result.status == 400
    assert "missing a payment method" in result.body["error"]


# retrieve-payment ----------------------------------------------------------------------------------
def test_retrieve_answers_the_seed_fields(dynamodb, stripe_fake):
    created = create_intent(29.99, metadata={"course_id": "123"}).body
    confirm(created["payment_intent_id"], payment_method="pm_card_visa")
    result = stripe_call("stripe_retrieve_payment", {"payment_intent_id": created["payment_intent_id"]})
    assert result.status == 200
    body = result.body
    assert (body["payment_intent_id"], body["status"], body["amount"], body["currency"]) == (
        created["payment_intent_id"],
        "succeeded",
        2999,
        "usd",
    )
    assert isinstance(body["created"], int)
    assert body["metadata"]["course_id"] == "123"


# customers and subscriptions -------------------------------------------------------------------------
def test_create_customer_answers_the_seed_fields(dynamodb, stripe_fake):
    result = create_customer()
    assert result.status == 200
    assert result.body["customer_id"].startswith("cus_")
    assert (result.body["email"], result.body["name"]) == ("user@example.com", "John Doe")
    assert stripe_fake.customers[result.body["customer_id"]]["metadata"] == {"organization_id": "org_123", "user_id": "user-alice"}


@pytest.mark.parametrize(
    ("body", "field"), [({"name": "x"}, "email"), ({"email": "not-an-email"}, "email"), ({"email": "a@b.co", "name": ""}, "name")]
)
def test_bad_customers_are_400(dynamodb, stripe_fake, body, field):
    result = stripe_call("stripe_create_customer", body)
    assert result.status == 400
    assert result.body["error"].startswith(field)


def test_subscription_answers_the_seed_fields_with_unix_seconds(dynamodb, stripe_fake):
    customer_id = create_customer().body["customer_id"]
    result = stripe_call(
        "stripe_create_subscription", {"customer_id": customer_id, "price_id": "price_local_monthly", "metadata": {"plan": "pro"}}
    )
    assert result.status == 200, result.body
    body = result.body
    assert body["subscription_id"].startswith("sub_")
    # Created incomplete, as Stripe does with payment_behavior=default_incomplete: the frontend confirms
    # the first invoice's payment with its client secret, and that activates the subscription.
    assert body["status"] == "incomplete" == stripe_fake.subscriptions[body["subscription_id"]]["status"]
    intent_id = body["client_secret"].split("_secret_")[0]
    assert stripe_fake.payment_intents[intent_id]["client_secret"] == body["client_secret"]
    payment_intents.confirm(stripe_fake, {"payment_method": "pm_card_visa", "return_url": "http://localhost:5173/done"}, intent_id)
    assert stripe_fake.subscriptions[body["subscription_id"]]["status"] == "active"
    assert stripe_fake.invoices[body["latest_invoice"]]["status"] == "paid"
    assert isinstance(body["current_period_start"], int) and isinstance(body["current_period_end"], int)
    assert body["current_period_end"] > body["current_period_start"]
    assert body["latest_invoice"].startswith("in_")
    cancelled = stripe_call("stripe_cancel_subscription", {"subscription_id": body["subscription_id"]})
    assert cancelled.status == 200
    assert (cancelled.body["subscription_id"], cancelled.body["status"]) == (body["subscription_id"], "canceled")
    assert isinstance(cancelled.body["canceled_at"], int)


def test_a_created_subscription_leaves_an_audit_line_naming_its_customer(dynamodb, stripe_fake, monkeypatch):
    from payments.domain import stripe_payments

    lines: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr(stripe_payments, "audit", lambda action, **fields: lines.append((action, fields)))
    customer_id = create_customer(user="user-carol").body["customer_id"]
    result = stripe_call("stripe_create_subscription", {"customer_id": customer_id, "price_id": "price_local_monthly"}, user="user-carol")
    assert result.status == 200, result.body
    created = [fields for action, fields in lines if action == "stripe.subscription_created"]
    assert created == [{"user_id": "user-carol", "subscription": result.body["subscription_id"], "price": "price_local_monthly"}]


def test_the_fake_refuses_a_subscription_without_a_payment_method_unless_incomplete(dynamodb, stripe_fake):
    from local.stripe_fake.objects import StripeError

    customer_id = create_customer().body["customer_id"]
    with pytest.raises(StripeError, match="no attached payment source"):
        billing.create_subscription(stripe_fake, {"customer": customer_id, "items": [{"price": "price_local_monthly"}]})


def test_subscribing_an_unknown_price_is_400(dynamodb, stripe_fake):
    customer_id = create_customer().body["customer_id"]
    result = stripe_call("stripe_create_subscription", {"customer_id": customer_id, "price_id": "price_nope"})
    assert result.status == 400
    assert "No such price" in result.body["error"]


def test_unknown_objects_are_404(dynamodb, stripe_fake):
    assert confirm("pi_unknown").status == 404
    assert stripe_call("stripe_retrieve_payment", {"payment_intent_id": "pi_unknown"}).status == 404
    assert stripe_call("stripe_create_subscription", {"customer_id": "cus_unknown", "price_id": "price_local_monthly"}).status == 404
    assert stripe_call("stripe_cancel_subscription", {"subscription_id": "sub_unknown"}).status == 404


def test_an_unreachable_stripe_is_503_after_the_sdks_retries(dynamodb, stripe_fake, monkeypatch):
    from tests.conftest import clear_container_caches
    from tests.e2e.conftest import free_port

    monkeypatch.setenv("STRIPE_API_BASE", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("STRIPE_MAX_NETWORK_RETRIES", "1")
    clear_container_caches()
    result = create_intent()
    assert result.status == 503
    assert "error" in result.body
    assert items_with_prefix(dynamodb, PAYMENTS, "") == []


def test_a_request_without_a_caller_is_401(dynamodb, stripe_fake):
    assert call("stripe_create_payment_intent", {"amount": 10, "currency": "usd"}, user=None).status == 401


# ownership: user B with user A's ids on every endpoint ---------------------------------------------
@pytest.fixture
def alices_objects(dynamodb, stripe_fake):
    intent_id = create_intent().body["payment_intent_id"]
    customer_id = create_customer().body["customer_id"]
    subscription_id = stripe_call("stripe_create_subscription", {"customer_id": customer_id, "price_id": "price_local_monthly"}).body[
        "subscription_id"
    ]
    return {"intent": intent_id, "customer": customer_id, "subscription": subscription_id}


@pytest.mark.parametrize(
    ("function", "body"),
    [
        ("stripe_confirm_payment", lambda ids: {"payment_intent_id": ids["intent"], "payment_method": "pm_card_visa"}),
        ("stripe_retrieve_payment", lambda ids: {"payment_intent_id": ids["intent"]}),
        ("stripe_create_subscription", lambda ids: {"customer_id": ids["customer"], "price_id": "price_local_monthly"}),
        ("stripe_cancel_subscription", lambda ids: {"subscription_id": ids["subscription"]}),
    ],
)
def test_another_users_objects_are_403_and_untouched(alices_objects, stripe_fake, function, body):
    requests_before = len(stripe_fake.requests)
    result = stripe_call(function, body(alices_objects), user="user-bob")
    assert result.status == 403
    assert len(stripe_fake.requests) == requests_before
    assert stripe_fake.payment_intents[alices_objects["intent"]]["status"] == "requires_payment_method"
    assert stripe_fake.subscriptions[alices_objects["subscription"]]["status"] == "incomplete"


def test_the_fake_refuses_a_confirm_without_return_url_as_stripe_does(dynamodb, stripe_fake):
    from local.stripe_fake.objects import StripeError

    intent_id = create_intent().body["payment_intent_id"]
    with pytest.raises(StripeError, match="return_url"):
        payment_intents.confirm(stripe_fake, {"payment_method": "pm_card_visa"}, intent_id)


def test_confirm_sends_our_frontends_return_address_and_refuses_any_other(dynamodb, stripe_fake):
    intent_id = create_intent().body["payment_intent_id"]
    elsewhere = confirm(intent_id, payment_method="pm_card_visa", return_url="https://evil.example/phish")
    assert (elsewhere.status, elsewhere.body) == (400, {"error": "return_url: must be under http://localhost:5173/"})
    assert stripe_fake.payment_intents[intent_id]["status"] == "requires_payment_method"
    confirmed = confirm(intent_id, payment_method="pm_card_visa")  # the default: FRONTEND_URL + STRIPE_RETURN_PATH
    assert (confirmed.status, confirmed.body["status"]) == (200, "succeeded")


# what Stripe answered is recorded, not only what a webhook later says (issue 24) -----------------
def test_a_subscription_cancelled_through_the_api_is_recorded_cancelled_without_its_webhook(dynamodb, stripe_fake):
    from payments import wiring

    customer_id = create_customer().body["customer_id"]
    subscription_id = stripe_call("stripe_create_subscription", {"customer_id": customer_id, "price_id": "price_local_monthly"}).body[
        "subscription_id"
    ]
    assert wiring.stripe_objects().get("subscription", subscription_id)["status"] == "incomplete"
    cancelled = stripe_call("stripe_cancel_subscription", {"subscription_id": subscription_id})  # its webhook is lost
    assert cancelled.status == 200
    record = wiring.stripe_objects().get("subscription", subscription_id)
    assert (record["status"], record["canceled_at"]) == ("canceled", cancelled.body["canceled_at"])
    # The webhook of an earlier change arriving late cannot bring back what the cancellation ended.
    created = next(
        e for e in stripe_fake.events if e["type"] == "customer.subscription.created" and e["data"]["object"]["id"] == subscription_id
    )
    deliver_webhook(created)
    assert wiring.stripe_objects().get("subscription", subscription_id)["status"] == "canceled"


def test_a_created_customer_is_recorded_for_its_creator_with_the_email_stripe_answered(dynamodb, stripe_fake):
    from payments import wiring

    customer_id = create_customer(user="user-carol").body["customer_id"]
    record = wiring.stripe_objects().get("customer", customer_id)
    assert (record["owner"], record["email"]) == ("user-carol", "user@example.com")


def test_a_confirmed_payment_is_recorded_as_stripe_answered_without_its_webhook(dynamodb, stripe_fake):
    from payments import wiring

    intent_id = create_intent(20).body["payment_intent_id"]
    assert confirm(intent_id, payment_method="pm_card_visa").body["confirmed"] is True  # its webhook is lost
    record = wiring.stripe_objects().get("payment_intent", intent_id)
    assert (record["status"], record["amount_received"]) == ("succeeded", 2000)


# what mutation testing found unasserted ---------------------------------------------------------
def test_a_subscription_carries_its_subscribers_user_id_to_stripe_with_the_callers_metadata(dynamodb, stripe_fake):
    customer_id = create_customer().body["customer_id"]
    result = stripe_call(
        "stripe_create_subscription", {"customer_id": customer_id, "price_id": "price_local_monthly", "metadata": {"plan": "pro"}}
    )
    assert result.status == 200, result.body
    assert stripe_fake.subscriptions[result.body["subscription_id"]]["metadata"] == {"plan": "pro", "user_id": "user-alice"}


def test_a_confirm_is_audited_with_stripes_answer(dynamodb, stripe_fake, monkeypatch):
    from payments.domain import stripe_payments

    lines = []
    monkeypatch.setattr(stripe_payments, "audit", lambda action, **fields: lines.append((action, fields)))
    intent_id = create_intent(20).body["payment_intent_id"]
    assert confirm(intent_id, payment_method="pm_card_threeDSecure2Required").body["status"] == "requires_action"
    confirmed = [fields for action, fields in lines if action == "stripe.payment_intent_confirmed"]
    assert confirmed == [{"user_id": "user-alice", "payment_intent": intent_id, "amount": 2000, "status": "requires_action"}]


def test_a_confirms_answer_outranks_an_earlier_state_of_the_same_second_arriving_after_it(dynamodb, stripe_fake):
    """The answer is dated at the intent's creation: a webhook of that same second saying an earlier
    state of the life cycle (a first card declined, then another card paid) arriving late does not
    overwrite it."""
    from payments import wiring

    intent_id = create_intent(20).body["payment_intent_id"]
    assert confirm(intent_id, payment_method="pm_card_visa").body["status"] == "succeeded"  # its webhook is lost
    intent = stripe_fake.payment_intents[intent_id]
    declined = {**intent, "status": "requires_payment_method", "amount_received": 0, "last_payment_error": {"code": "card_declined"}}
    failed = {
        "id": "evt_declined_same_second",
        "object": "event",
        "type": "payment_intent.payment_failed",
        "created": intent["created"],
        "data": {"object": declined},
    }
    assert deliver_webhook(failed).body["outcome"] == "skipped"
    record = wiring.stripe_objects().get("payment_intent", intent_id)
    assert (record["status"], record["amount_received"]) == ("succeeded", 2000)
