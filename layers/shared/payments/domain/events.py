"""Event management: staff create events; anyone signed in reads one with its seats left."""

from __future__ import annotations

import time

from payments.auth import Caller
from payments.errors import NotFound
from payments.models.tickets import CreateEventRequest
from payments.repositories.tickets import Event
from payments.repositories.wiring import get_ticket_repository


def create_event(caller: Caller, request: CreateEventRequest) -> Event:
    repository = get_ticket_repository()
    event = Event(
        event_id=repository.next_id("event"),
        name=request.name,
        price=request.price,
        currency=request.currency,
        capacity=request.capacity,
        available=request.capacity,
        created_by=caller.user_id,
        created_at=int(time.time()),
    )
    repository.put_event(event)
    return event


def get_event(event_id: int) -> Event:
    event = get_ticket_repository().get_event(event_id)
    if event is None:
        raise NotFound("Event not found")
    return event


def list_events(limit: int, after: int | None) -> tuple[list[Event], int | None]:
    return get_ticket_repository().list_events(limit, after)
