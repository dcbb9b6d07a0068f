from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from payments.errors import InvalidField
from payments.models.common import ProviderPayload, RequestModel, payload, validate
from payments.models.paypal import CreateOrderRequest, RefundRequest
from payments.models.stripe import CreateCustomerRequest, CreatePaymentIntentRequest
from payments.models.tickets import (
    CancelRequest,
    CheckInRequest,
    CreateEventRequest,
    EventPath,
    PageQuery,
    PurchaseRequest,
    TicketPath,
    VerifyRequest,
)

CODE = "6e40a178-b56f-42e2-8264-77af31d21c3d"


def error_of(model, data, context=None):
    with pytest.raises(InvalidField) as caught:
        validate(model, data, context)
    return str(caught.value)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"quantity": 1}, "event_id"),
        ({"event_id": 1}, "quantity"),
        ({"event_id": "abc", "quantity": 1}, "event_id"),
        ({"event_id": 1.5, "quantity": 1}, "event_id"),
        ({"event_id": True, "quantity": 1}, "event_id"),
        ({"event_id": 0, "quantity": 1}, "event_id"),
        ({"event_id": 1, "quantity": "2"}, "quantity"),
        ({"event_id": 1, "quantity": 0}, "quantity"),
        ({"event_id": 1, "quantity": -3}, "quantity"),
        ({"event_id": 1, "quantity": 11}, "quantity"),
        ({"event_id": 1, "quantity": 10**30}, "quantity"),
        ({"event_id": 1, "quantity": Decimal("2.5")}, "quantity"),
    ],
)
def test_purchase_errors_name_the_field(body, field):
    assert error_of(PurchaseRequest, body, {"max_quantity": 10}).startswith(f"{field}:")


def test_purchase_accepts_ids_from_url_parameters_and_integral_numbers():
    request = validate(PurchaseRequest, {"event_id": "15", "quantity": Decimal("2")}, {"max_quantity": 10})
    assert (request.event_id, request.quantity) == (15, 2)


def test_quantity_limit_comes_from_configuration():
    assert "between 1 and 3" in error_of(PurchaseRequest, {"event_id": 1, "quantity": 4}, {"max_quantity": 3})


@pytest.mark.parametrize("session_id", ["", "pi_123", "cs_test_<script>", "cs_" + "a" * 300])
def test_verify_refuses_what_is_not_a_checkout_session_id(session_id):
    assert error_of(VerifyRequest, {"session_id": session_id, "ticket_id": 1}).startswith("session_id:")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "price": 10, "currency": "usd", "capacity": 5}, "name"),
        ({"name": "A", "price": "10", "currency": "usd", "capacity": 5}, "price"),
        ({"name": "A", "price": Decimal("-1"), "currency": "usd", "capacity": 5}, "price"),
        ({"name": "A", "price": Decimal("10.999"), "currency": "usd", "capacity": 5}, "price"),
        ({"name": "A", "price": Decimal("100.5"), "currency": "jpy", "capacity": 5}, "price"),
        ({"name": "A", "price": Decimal("0.10"), "currency": "usd", "capacity": 5}, "price"),
        ({"name": "A", "price": 10, "currency": "xyz", "capacity": 5}, "currency"),
        ({"name": "A", "price": 10, "currency": "usd", "capacity": 0}, "capacity"),
        ({"name": "A", "price": 10, "currency": "usd", "capacity": 5, "owner": "x"}, "owner"),
    ],
)
def test_create_event_errors_name_the_field(body, field):
    context = {"allowed_currencies": ("usd", "jpy"), "max_capacity": 1000}
    assert error_of(CreateEventRequest, body, context).startswith(f"{field}:")


def test_create_event_keeps_the_price_exact():
    request = validate(CreateEventRequest, {"name": " Gala ", "price": Decimal("19.90"), "currency": "EUR", "capacity": 3})
    assert (request.name, request.price, request.currency) == ("Gala", Decimal("19.90"), "eur")


@pytest.mark.parametrize(
    ("model", "body", "expected"),
    [
        (CreatePaymentIntentRequest, {"currency": "usd", "amount": 10, "metadata": {"order": 7}}, "metadata: expected str, got int"),
        (
            CreatePaymentIntentRequest,
            {"currency": "usd", "amount": 10, "metadata": {"user_id": "x"}},
            "metadata: key 'user_id' is reserved",
        ),
        (CreatePaymentIntentRequest, {"currency": "usd", "amount": True}, "amount: must be a number"),
        (CreatePaymentIntentRequest, {"currency": "usd", "amount": Decimal("Infinity")}, "amount: must be a finite number"),
        (CreatePaymentIntentRequest, {"currency": "usd", "amount": Decimal("0.10")}, "amount: must be at least 0.50 USD"),
        (CreatePaymentIntentRequest, {"currency": "us1", "amount": 10}, "currency: must be a three-letter currency code"),
        (CreateCustomerRequest, {"email": "not-an-email"}, "email: must be an email address"),
        (CreateCustomerRequest, {"email": "a@b.co", "name": "   "}, "name: must be 1 to 256 characters"),
        (
            CreateOrderRequest,
            {"currency": "usd", "amount": 5, "description": "line\nbreak"},
            "description: must not contain control characters",
        ),
        (RefundRequest, {"capture_id": "ABCDE12345", "amount": 5}, "amount: needs a currency"),
        (PageQuery, {"limit": "0"}, "limit: must be between 1 and 100"),
        (PageQuery, {"after": "-1"}, "after: must be a whole number"),
        (CheckInRequest, {}, "ticket_code: field required"),
        (CheckInRequest, {"ticket_code": "6e40a178"}, "ticket_code: must be a ticket code (the text of the ticket's QR code)"),
        (CheckInRequest, {"ticket_code": CODE}, "event_id: field required"),
        (CheckInRequest, {"ticket_code": CODE, "event_id": 15, "count": 0}, "count: must be between 1 and 10"),
        (CheckInRequest, {"ticket_code": CODE, "event_id": 15, "count": 1.5}, "count: must be a whole number"),
        (CheckInRequest, {"ticket_code": CODE, "event_id": 15, "seat": "A1"}, "seat: unknown field"),
    ],
)
def test_errors_say_what_is_wrong_with_which_field(model, body, expected):
    assert error_of(model, body, {"max_amount": Decimal(10_000)}) == expected


def test_a_ticket_code_typed_at_the_door_may_come_in_capitals_and_spaces():
    assert validate(CheckInRequest, {"ticket_code": f"  {CODE.upper()} ", "event_id": 15}).ticket_code == CODE


def test_text_is_stripped_before_its_length_is_checked():
    request = validate(CreateCustomerRequest, {"email": "  ada@example.com ", "name": " Ada "})
    assert (request.email, request.name) == ("ada@example.com", "Ada")


def test_url_parameters_become_numbers_and_defaults_apply():
    query = validate(PageQuery, {"after": "42"})
    assert (query.limit, query.after) == (20, 42)


def test_unknown_fields_are_refused_in_a_query_a_path_and_a_body_alike():
    assert error_of(PageQuery, {"limit": "5", "_": "1700000000"}) == "_: unknown field"
    assert error_of(EventPath, {"event_id": "15", "ticket_id": "31"}) == "ticket_id: unknown field"
    assert error_of(PurchaseRequest, {"event_id": 15, "quantity": 1, "phone": "1"}) == "phone: unknown field"
    assert error_of(VerifyRequest, {"session_id": "cs_test_a1", "ticket_id": 31, "phone": "1"}) == "phone: unknown field"
    assert error_of(CancelRequest, {"ticket_id": 31, "phone": "1"}) == "phone: unknown field"
    assert error_of(CreateCustomerRequest, {"email": "a@b.co", "phone": "1"}) == "phone: unknown field"


def _subclasses(base):
    for model in base.__subclasses__():
        yield model
        yield from _subclasses(model)


def _every_model():
    from payments.models import paypal, paypal_events, stripe, stripe_events, tickets

    modules = (tickets, stripe, paypal, stripe_events, paypal_events)
    return {
        model
        for module in modules
        for model in vars(module).values()
        if isinstance(model, type) and issubclass(model, BaseModel) and model.__module__ == module.__name__
    }


def test_every_request_model_refuses_unknown_fields():
    """One rule for every route's body, path and query; a model cannot opt out of it."""
    requests = set(_subclasses(RequestModel))
    assert {PurchaseRequest, VerifyRequest, CancelRequest, EventPath, TicketPath, PageQuery} <= requests
    for model in requests:
        errors = _errors(model, {"phone": "1"})
        assert {"type": "extra_forbidden", "loc": ("phone",)} in errors, model.__name__


def test_only_the_providers_webhook_payloads_ignore_fields_they_add():
    """Stripe and PayPal add fields to their events without notice: those models, and only those,
    ignore what they do not read. Every other model in payments.models is a request model."""
    providers = {model for model in _every_model() if model.__module__.endswith("_events")}
    assert providers and all(issubclass(model, ProviderPayload) for model in providers)
    assert {model for model in _every_model() if issubclass(model, ProviderPayload)} == providers
    assert all(issubclass(model, RequestModel) for model in _every_model() - providers)
    assert not set(_subclasses(RequestModel)) & set(_subclasses(ProviderPayload))


def test_a_provider_payload_with_a_field_we_do_not_read_is_taken():
    from payments.models.paypal_events import Money
    from payments.models.stripe_events import EventData

    assert EventData.model_validate({"object": {"id": "cs_1"}, "previous_attributes": {}}).object == {"id": "cs_1"}
    assert Money.model_validate({"currency_code": "USD", "value": "1.00", "breakdown": {}}).value == "1.00"


def _errors(model, data):
    try:
        model.model_validate(data)
    except ValidationError as error:
        return [{"type": item["type"], "loc": item["loc"]} for item in error.errors(include_url=False)]
    return []


def test_the_idempotency_payload_keeps_amounts_exact_and_is_plain_json():
    request = validate(CreatePaymentIntentRequest, {"currency": "KWD", "amount": Decimal("1.250"), "metadata": {"a": "b"}})
    assert payload(request) == {"currency": "kwd", "amount": "1.25", "metadata": {"a": "b"}, "description": None}
    same = validate(CreatePaymentIntentRequest, {"currency": "kwd", "amount": Decimal("1.25"), "metadata": {"a": "b"}})
    assert payload(same) == payload(request)  # 1.250 and 1.25 are one amount, so one request
    assert all(type(value) in (str, dict, type(None)) for value in payload(request).values())


def test_a_body_that_is_not_an_object_is_named_as_the_body():
    assert error_of(VerifyRequest, ["cs_1", 1]) == "body: expected object, got array"
