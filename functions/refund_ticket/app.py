"""POST /api/payments/refund/ — staff refund a paid ticket, in full or some of its seats; the seats
of people not admitted go back on sale."""

from typing import Any

from payments import wiring
from payments.auth import caller_from_event, require_group
from payments.domain.lifecycle import TicketStatus
from payments.http import Event, Response, api_handler, json_response, parse_body
from payments.models.tickets import RefundTicketRequest
from payments.money import to_major_units
from payments.settings import get_settings


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    settings = get_settings()
    caller = caller_from_event(event)
    require_group(caller, settings.staff_group)
    request = parse_body(event, RefundTicketRequest, {"max_quantity": settings.max_tickets_per_order})
    ticket, refund = wiring.ticket_service().refund(caller, request)
    answer: dict[str, Any] = {
        "detail": "Ticket refunded",
        "ticket_id": ticket.ticket_id,
        "refund_id": refund.id,
        "amount": to_major_units(refund.amount, refund.currency),
        "currency": refund.currency,
        "status": ticket.status,
    }
    if request.quantity is not None:
        # A request naming seats is told which: those refunded now, and those the ticket still holds.
        answer |= {
            "quantity_refunded": request.quantity,
            "quantity_remaining": ticket.quantity_held if ticket.status == TicketStatus.PAID else 0,
        }
    return json_response(200, answer)
