"""Signed but malformed Stripe events are a 400, and nothing is written (issue 25, item 5).

A signature proves who sent an event, not its shape: ``data`` not an object, ``data.object``
missing, a field we read missing or of another type were a 500 (and Stripe retried for three days).
Every event here is signed with the test secret, as Stripe signs it."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.dynamo import PAYMENTS, TICKETS, scan
from tests.support.flows import deliver_webhook

# One well-formed object per kind the handlers read, with the event type that carries it.
OBJECTS: dict[str, dict[str, Any]] = {
    "checkout.session.completed": {
        "id": "cs_test_shape",
        "object": "checkout.session",
        "status": "complete",
        "payment_status": "paid",
        "payment_intent": "pi_shape",
        "metadata": {"ticket_id": "987654"},
        "client_reference_id": "987654",
        "amount_total": 2500,
        "currency": "usd",
        "url": None,
    },
    "charge.refunded": {"id": "ch_shape", "payment_intent": "pi_shape", "amount": 2500, "amount_captured": 2500, "amount_refunded": 2500},
    "refund.failed": {"id": "re_shape", "payment_intent": "pi_shape", "status": "failed", "amount": 100, "failure_reason": "unknown"},
    "charge.dispute.closed": {"id": "dp_shape", "payment_intent": "pi_shape", "status": "lost", "amount": 2500, "reason": "fraudulent"},
    "payment_intent.succeeded": {
        "id": "pi_shape",
        "status": "succeeded",
        "amount": 2500,
        "amount_received": 2500,
        "currency": "usd",
        "last_payment_error": None,
    },
    "customer.subscription.updated": {
        "id": "sub_shape",
        "status": "active",
        "canceled_at": None,
        "cancel_at_period_end": False,
        "items": {"data": [{"current_period_start": 1, "current_period_end": 2}]},
    },
    "invoice.paid": {"id": "in_shape", "parent": {"subscription_details": {"subscription": "sub_shape"}}, "amount_due": 1000},
}
# The JSON type Stripe gives each field the handlers read.
KINDS = {
    "id": "str",
    "status": "str",
    "payment_status": "str",
    "currency": "str",
    "url": "str",
    "failure_reason": "str",
    "reason": "str",
    "client_reference_id": "str",
    "amount": "count",
    "amount_total": "count",
    "amount_captured": "count",
    "amount_refunded": "count",
    "amount_received": "count",
    "amount_due": "count",
    "canceled_at": "count",
    "cancel_at_period_end": "bool",
    "payment_intent": "expandable",
    "metadata": "metadata",
    "last_payment_error": "object",
    "items": "object",
    "parent": "object",
}
# What every object must have, and what the payment intent and the subscription must have besides.
REQUIRED = {"payment_intent.succeeded": {"id", "status"}, "customer.subscription.updated": {"id", "status"}}
scalars = st.one_of(st.text(max_size=8), st.integers(-(10**6), 10**6), st.floats(allow_nan=False, allow_infinity=False), st.booleans())
json_values = st.recursive(
    st.none() | scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6
)
WRONG = {
    "str": st.one_of(
        st.integers(),
        st.booleans(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.lists(json_values, max_size=2),
        st.dictionaries(st.text(max_size=4), json_values, max_size=2),
    ),
    "count": st.one_of(
        st.text(max_size=8),
        st.booleans(),
        st.integers(max_value=-1),
        st.floats(allow_nan=False, allow_infinity=False).filter(lambda number: not number.is_integer()),
        st.lists(json_values, max_size=2),
        st.dictionaries(st.text(max_size=4), json_values, max_size=2),
    ),
    "bool": st.one_of(
        st.integers(), st.text(max_size=5), st.lists(json_values, max_size=2), st.dictionaries(st.text(max_size=4), json_values, max_size=2)
    ),
    "expandable": st.one_of(
        st.integers(),
        st.booleans(),
        st.just(""),
        st.lists(json_values, max_size=2),
        st.fixed_dictionaries({"object": st.just("payment_intent")}),
        st.fixed_dictionaries({"id": st.one_of(st.integers(), st.none(), st.lists(st.text(), max_size=1))}),
    ),
    "metadata": st.one_of(
        st.text(max_size=5),
        st.integers(),
        st.lists(json_values, max_size=2),
        st.fixed_dictionaries(
            {
                "ticket_id": st.one_of(
                    st.integers(),
                    st.booleans(),
                    st.lists(st.text(), max_size=1),
                    st.dictionaries(st.text(max_size=3), st.text(), max_size=1),
                )
            }
        ),
    ),
    "object": st.one_of(st.text(max_size=5), st.integers(), st.booleans(), st.lists(json_values, min_size=1, max_size=2)),
}


def signed_event(event_type: str, data: Any, **envelope: Any) -> dict[str, Any]:
    return {"id": "evt_shape_1", "object": "event", "type": event_type, "created": 1_790_000_000, "data": data, **envelope}


@st.composite
def malformed_events(draw: st.DrawFn) -> dict[str, Any]:
    event_type = draw(st.sampled_from(sorted(OBJECTS)))
    obj = copy.deepcopy(OBJECTS[event_type])
    how = draw(st.sampled_from(["data", "object", "missing", "wrong-type", "envelope"]))
    if how == "data":  # data is not an object
        return signed_event(event_type, draw(st.one_of(st.none(), scalars, st.lists(json_values, max_size=2))))
    if how == "object":  # data.object missing, or not an object
        data = draw(
            st.one_of(
                st.just({}), st.builds(lambda value: {"object": value}, st.one_of(st.none(), scalars, st.lists(json_values, max_size=2)))
            )
        )
        return signed_event(event_type, data)
    if how == "missing":
        field = draw(st.sampled_from(sorted(REQUIRED.get(event_type, {"id"}))))
        del obj[field]
        return signed_event(event_type, {"object": obj})
    if how == "wrong-type":
        field = draw(st.sampled_from(sorted(obj.keys() & KINDS.keys())))
        obj[field] = draw(WRONG[KINDS[field]])
        return signed_event(event_type, {"object": obj})
    # the envelope: its id or type of another type, or (for objects ordered by it) no created time
    part = draw(st.sampled_from(["id", "type", "created"]))
    event = signed_event(event_type, {"object": obj})
    event[part] = draw(WRONG["str"] if part != "created" else WRONG["count"])
    return event


def nothing_written(dynamodb: Any) -> bool:
    return scan(dynamodb, PAYMENTS) == [] and scan(dynamodb, TICKETS) == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(event=malformed_events())
def test_a_signed_malformed_event_is_a_400_and_nothing_is_written(dynamodb, stripe_fake, event):
    result = deliver_webhook(event)
    assert result.status == 400, (result.status, result.body, event)
    assert set(result.body) == {"error"}, result.body
    assert nothing_written(dynamodb)


@pytest.mark.parametrize(
    ("event", "error"),
    [
        (signed_event("checkout.session.completed", "not an object"), "data: model_type"),
        (signed_event("checkout.session.completed", {}), "data.object: missing"),
        (signed_event("checkout.session.completed", {"object": []}), "data.object: dict_type"),
        (signed_event("charge.refunded", {"object": {"id": "ch_1", "amount_refunded": [2500]}}), "data.object.amount_refunded: int_type"),
        (signed_event("charge.refunded", {"object": {"id": "ch_1", "amount_refunded": "2500"}}), "data.object.amount_refunded: int_type"),
        (signed_event("checkout.session.completed", {"object": {"status": "complete"}}), "data.object.id: missing"),
        (
            signed_event("checkout.session.completed", {"object": {"id": "cs_1", "metadata": {"ticket_id": 5}}}),
            "data.object.metadata.ticket_id: string_type",
        ),
        (signed_event("payment_intent.succeeded", {"object": {"id": "pi_1"}}), "data.object.status: missing"),
        (signed_event("payment_intent.succeeded", {"object": {"id": "pi_1", "status": "succeeded"}}, created=None), "created: missing"),
        (
            signed_event("charge.dispute.closed", {"object": {"id": "dp_1", "status": "lost", "amount": -1}}),
            "data.object.amount: greater_than_equal",
        ),
        (signed_event("invoice.paid", {"object": {"id": "in_1", "parent": "sub_1"}}), "data.object.parent: model_type"),
    ],
)
def test_named_malformed_events_are_a_400_naming_the_field(dynamodb, stripe_fake, event, error):
    result = deliver_webhook(event)
    assert (result.status, result.body) == (400, {"error": f"Webhook body is not a well-formed Stripe event ({error})"})
    assert nothing_written(dynamodb)


@pytest.mark.parametrize("event_type", sorted(OBJECTS))
def test_the_well_formed_samples_pass_the_check(dynamodb, stripe_fake, event_type):
    """The samples the malformed events are made from are themselves accepted (and recorded)."""
    result = deliver_webhook(signed_event(event_type, {"object": copy.deepcopy(OBJECTS[event_type])}))
    assert result.status == 200, result.body
    assert any(str(item["pk"]).startswith("WEBHOOK#") for item in scan(dynamodb, PAYMENTS))


def test_unknown_types_are_held_to_the_envelope_only(dynamodb, stripe_fake):
    result = deliver_webhook(signed_event("customer.created", {"object": {"id": 5, "email": ["x"]}}))
    assert (result.status, result.body["outcome"]) == (200, "ignored")
    refused = deliver_webhook({**signed_event("customer.created", {"object": {}}), "id": 7})
    assert refused.status == 400
