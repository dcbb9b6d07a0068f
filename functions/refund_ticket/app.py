"""POST /api/payments/refund/ — staff refund a paid ticket in full; its seats go back on sale."""

from typing import Any

from payments import wiring
from payments.auth import caller_from_event, require_group
from payments.http import Event, Response, api_handler, json_response, parse_body
from payments.models.tickets import RefundTicketRequest
from payments.money import to_major_units
from payments.settings import get_settings


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    caller = caller_from_event(event)
    require_group(caller, get_settings().staff_group)
    request = parse_body(event, RefundTicketRequest)
    ticket, refund = wiring.ticket_service().refund(caller, request)
    return json_response(
        200,
        {
            "detail": "Ticket refunded",
            "ticket_id": ticket.ticket_id,
            "refund_id": refund.id,
            "amount": to_major_units(refund.amount, refund.currency),
            "currency": refund.currency,
            "status": ticket.status,
        },
    )
