"""POST /api/payments/refund/ — staff refund a paid ticket, in full or some of its seats; the seats
of people not admitted go back on sale."""

from typing import Any

from payments import wiring
from payments.auth import Caller, caller_from_event, require_group
from payments.domain.lifecycle import TicketStatus
from payments.http import Event, Response, api_handler, header, json_response, parse_body
from payments.idempotency import run_once
from payments.models.tickets import RefundTicketRequest
from payments.money import to_major_units
from payments.settings import get_settings


@api_handler
def lambda_handler(event: Event, context: Any) -> Response:
    settings = get_settings()
    caller = caller_from_event(event)
    require_group(caller, settings.staff_group)
    request = parse_body(event, RefundTicketRequest, {"max_quantity": settings.max_tickets_per_order})
    client_key = header(event, "idempotency-key")
    if client_key is None:
        done = _refund(caller, request, None)
    else:
        # Each partial refund refunds more seats: a retry whose answer was lost must not. With the
        # client's key the first answer is replayed, and the same key with another body (another
        # quantity, or none: the whole ticket) is a 422; the key also names the request to the
        # domain, so a retry cut off before its answer was kept finishes or finds its own refund.
        body = request.model_dump(mode="json")
        done = run_once(caller, f"ticket-refund-{request.ticket_id}", client_key, body, lambda key: _refund(caller, request, key))
    answer: dict[str, Any] = {
        "detail": "Ticket refunded",
        "ticket_id": done["ticket_id"],
        "refund_id": done["refund_id"],
        "amount": to_major_units(done["amount_minor"], done["currency"]),
        "currency": done["currency"],
        "status": done["status"],
    }
    if request.quantity is not None:
        # A request naming seats is told which: those refunded now, and those the ticket still holds.
        answer |= {"quantity_refunded": request.quantity, "quantity_remaining": done["quantity_remaining"]}
    return json_response(200, answer)


def _refund(caller: Caller, request: RefundTicketRequest, request_key: str | None) -> dict[str, Any]:
    """The refund made, as plain values (kept as the answer of an Idempotency-Key)."""
    ticket, refund = wiring.ticket_service().refund(caller, request, request_key)
    return {
        "ticket_id": ticket.ticket_id,
        "refund_id": refund.id,
        "amount_minor": refund.amount,
        "currency": refund.currency,
        "status": str(ticket.status),
        "quantity_remaining": ticket.quantity_held if ticket.status == TicketStatus.PAID else 0,
    }
