"""Response bodies shared by more than one handler, in the seeds' field names and JSON types."""

from __future__ import annotations

from typing import Any

from payments.domain.lifecycle import Event, Ticket


def ticket_with_qr(detail: str, ticket: Ticket) -> dict[str, Any]:
    # Imported here: segno is only loaded by the functions that answer with a QR code.
    from payments.qr import qr_png_base64

    return {
        "detail": detail,
        "qr_code_data": qr_png_base64(ticket.ticket_code),
        "ticket_id": ticket.ticket_id,
        "ticket_code": ticket.ticket_code,
        "quantity": ticket.quantity,
        "event_id": ticket.event_id,
        "status": ticket.status,
    }


def event_body(event: Event) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "name": event.name,
        "price": event.price,
        "currency": event.currency,
        "capacity": event.capacity,
        "available": event.available,
        "is_free": event.is_free,
    }
