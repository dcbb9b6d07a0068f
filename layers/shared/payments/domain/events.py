"""Event management: staff create events; anyone signed in reads one with its seats left."""

from __future__ import annotations

import time

from payments.auth import Caller
from payments.domain.lifecycle import Event, seat_shards_for
from payments.errors import NotFound
from payments.models.tickets import CreateEventRequest
from payments.repositories.tickets import TicketRepository


class EventService:
    def __init__(self, repository: TicketRepository) -> None:
        self._repository = repository

    def create(self, caller: Caller, request: CreateEventRequest) -> Event:
        event = Event(
            event_id=self._repository.next_id("event"),
            name=request.name,
            price=request.price,
            currency=request.currency,
            capacity=request.capacity,
            available=request.capacity,
            created_by=caller.user_id,
            created_at=int(time.time()),
            seat_shards=request.seat_shards or seat_shards_for(request.capacity),
        )
        self._repository.put_event(event)
        return event

    def get(self, event_id: int) -> Event:
        event = self._repository.get_event(event_id)
        if event is None:
            raise NotFound("Event not found")
        return event

    def list(self, limit: int, after: int | None) -> tuple[list[Event], int | None]:
        return self._repository.list_events(limit, after)
