"""Response bodies shared by more than one handler, in the seeds' field names and JSON types."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from payments.domain.lifecycle import HOLDS_SEATS, Event, Ticket, TicketLine

if TYPE_CHECKING:
    # Named for their types only: the event and ticket handlers that share this module do not load
    # the on-sale queue (its admission policy and passes) at cold start.
    from payments.domain.admission import QueueStatus
    from payments.domain.queue import QueueAnswer


def ticket_with_qr(detail: str, ticket: Ticket) -> dict[str, Any]:
    return {
        "detail": detail,
        "qr_code_data": ticket.qr_png,
        "ticket_id": ticket.ticket_id,
        "ticket_code": ticket.ticket_code,
        "quantity": ticket.quantity,
        "event_id": ticket.event_id,
        "status": ticket.status,
    }


def ticket_body(ticket: Ticket | TicketLine) -> dict[str, Any]:
    """A ticket as its owner sees it; the door pass only where the whole ticket was read."""
    body: dict[str, Any] = {
        "ticket_id": ticket.ticket_id,
        "ticket_code": ticket.ticket_code,
        "event_id": ticket.event_id,
        "quantity": ticket.quantity,
        "status": ticket.status,
        "checked_in": ticket.checked_in,
        # The seats it still holds (as the staff refund's answer says it): those staff did not
        # refund of a paid ticket, which its pass admits; none once it gave its seats back.
        "quantity_remaining": ticket.quantity - ticket.refunded_quantity if ticket.status in HOLDS_SEATS else 0,
    }
    if isinstance(ticket, Ticket):
        body["checked_in_at"] = ticket.checked_in_at
        body["qr_code_data"] = ticket.qr_png if ticket.admits else None
    return body


def event_body(event: Event) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "name": event.name,
        "price": event.price,
        "currency": event.currency,
        "capacity": event.capacity,
        "available": event.available,
        "is_free": event.is_free,
        "on_sale_queue": event.on_sale_queue,
        "description": event.description,
        "starts_at": event.starts_at,
        "opens_at": event.opens_at,
        "closes_at": event.closes_at,
        "sales_paused": event.sales_paused,
    }


def queue_place_body(answer: QueueAnswer, queue_status_url: str) -> dict[str, Any]:
    """A buyer's place in an event's queue, with the pass to send with the purchase once admitted,
    and where to ask for the queue's status while waiting (payments.status_urls)."""
    return {
        "event_id": answer.event_id,
        "place": answer.place,
        "status": answer.status,
        "admitted_to": answer.admitted_to,
        "estimated_wait_seconds": answer.estimated_wait_seconds,
        "admission_expires_at": None if answer.admission_expires_ms is None else answer.admission_expires_ms // 1000,
        "queue_pass": answer.queue_pass,
        "queue_pass_expires_at": answer.pass_expires_ms // 1000,
        "poll_after_ms": answer.poll_after_ms,
        "queue_status_url": queue_status_url,
    }


def queue_status_body(status: QueueStatus) -> dict[str, Any]:
    """The queue's status: the same for every waiting buyer of the event (a CDN keeps it a second)."""
    return {
        "event_id": status.event_id,
        "admitted_to": status.admitted_to,
        "sold_out": status.sold_out,
        "seat_bound": status.seat_bound,
        "admission_rate_per_second": status.admission_rate_per_second,
        "updated_at": status.updated_ms // 1000,
        "poll_after_ms": status.poll_after_ms,
    }
