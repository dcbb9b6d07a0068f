"""POST /api/v1/payments/stripe/create-customer/ — a Stripe customer owned by the caller."""

from typing import Any

from payments import wiring
from payments.auth import caller_from_event
from payments.http import Event, Response, api_handler, header, json_response, parse_body
from payments.models.stripe import CreateCustomerRequest


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    caller = caller_from_event(event)
    request = parse_body(event, CreateCustomerRequest)
    return json_response(200, wiring.stripe_payments_service().create_customer(caller, request, header(event, "idempotency-key")))
