"""Attacks where the Checkout Session pacer meets the on-sale queue: an admitted buyer refused for
want of a slot (before or after the reservation) keeps their admission and leaves no seat taken."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from local.stripe_fake import StripeFake
from payments import settings, wiring
from payments.domain.pacing import SessionPacer, candidate_slots, slots_per_second
from payments.domain.tickets import TicketService
from payments.dynamodb import get_client as dynamodb_client
from payments.repositories.stripe_slots import StripeSlotRepository
from tests.support.clocks import VirtualClock
from tests.support.dynamo import TICKETS, scan
from tests.support.flows import STAFF, get_event
from tests.support.lambdas import ApiResult, call

pytestmark = pytest.mark.usefixtures("dynamodb")


def queued_event(capacity: int) -> int:
    body = {"name": "On-sale", "price": 25, "currency": "usd", "capacity": capacity, "on_sale_queue": True}
    result = call("create_event", body, user="user-staff", groups=STAFF)
    assert result.status == 201, result.body
    return int(result.body["event_id"])


def admitted_pass(event_id: int, user: str) -> str:
    assert call("join_event_queue", user=user, path_params={"event_id": str(event_id)}).status == 200
    wiring.queue_service().admit_once()
    answer = call("get_event_queue_place", user=user, path_params={"event_id": str(event_id)})
    assert answer.status == 200 and answer.body["status"] == "admitted", answer.body
    return str(answer.body["queue_pass"])


def buy_with(event_id: int, user: str, queue_pass: str) -> ApiResult:
    return call("create_ticket_checkout", {"event_id": event_id, "quantity": 1, "queue_pass": queue_pass}, user=user)


def reserved(client: Any) -> list[dict[str, Any]]:
    return [item for item in scan(client, TICKETS) if str(item["pk"]).startswith("TICKET#") and item["status"] == "reserved"]


def test_admitted_buyer_refused_for_want_of_a_slot_keeps_the_admission(stripe_fake: StripeFake, dynamodb: Any) -> None:
    event_id = queued_event(5)
    queue_pass = admitted_pass(event_id, "user-alice")
    per_second = slots_per_second(settings.get_settings().stripe_session_rate_per_second)
    slots = StripeSlotRepository(dynamodb_client(), TICKETS)
    now = time.time()
    taken = range(math.floor(now * per_second), math.floor((now + 3) * per_second) + 1)
    for slot in taken:
        slots.claim(slot, int(now) + 600)
    busy = buy_with(event_id, "user-alice", queue_pass)
    assert busy.status == 503, busy.body
    assert reserved(dynamodb) == []
    for slot in taken:
        slots.free(slot)
    again = buy_with(event_id, "user-alice", queue_pass)
    assert again.status == 200, again.body
    assert get_event(event_id)["available"] == 4


def test_admitted_buyer_busy_after_the_reservation_gets_seat_and_admission_back(
    stripe_fake: StripeFake, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    event_id = queued_event(5)
    queue_pass = admitted_pass(event_id, "user-alice")
    clock = VirtualClock(5_000_000.0)
    slots = StripeSlotRepository(dynamodb_client(), TICKETS)
    pacer = SessionPacer(slots, rate=2, clock=clock, sleep=clock.sleep)
    service = TicketService(
        wiring.ticket_repository(), wiring.stripe_gateway, settings.get_settings(), queue=wiring.queue_service, pacer=pacer
    )
    monkeypatch.setattr(wiring, "ticket_service", lambda: service)
    repository = wiring.ticket_repository()
    real_create = repository.create

    def slow_create(*args: Any, **kwargs: Any) -> Any:
        created = real_create(*args, **kwargs)
        clock.now += 5.0
        for slot in candidate_slots(clock.now, 1, lead=0.0):
            slots.claim(slot, int(clock.now) + 600)
        return created

    monkeypatch.setattr(repository, "create", slow_create)
    busy = buy_with(event_id, "user-alice", queue_pass)
    monkeypatch.setattr(repository, "create", real_create)
    assert busy.status == 503, busy.body
    assert reserved(dynamodb) == []
    assert get_event(event_id)["available"] == 5
    clock.now += 60.0
    again = buy_with(event_id, "user-alice", queue_pass)
    assert again.status == 200, again.body
    assert get_event(event_id)["available"] == 4
