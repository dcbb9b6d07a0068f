"""Attacks on the on-sale queue with today's changes (admissions at the completion share, shards
marked queued at creation and by enable, poll hints) and with staff edits of a queued event: never
more seats sold than capacity, a buyer without an admission never gets a seat of a queued event,
no 500."""

from __future__ import annotations

from typing import Any

import pytest

from local.stripe_fake import StripeFake
from payments import wiring
from payments.domain.lifecycle import UNPAID_HOLDS, TicketStatus
from payments.dynamodb import get_client as dynamodb_client
from tests.support.dynamo import TICKETS, scan
from tests.support.flows import STAFF, buy, create_event
from tests.support.lambdas import ApiResult, call

pytestmark = pytest.mark.usefixtures("dynamodb")


def queued_event(capacity: int, shards: int = 1, price: int = 25) -> int:
    body = {"name": "On-sale", "price": price, "currency": "usd", "capacity": capacity, "seat_shards": shards, "on_sale_queue": True}
    result = call("create_event", body, user="user-staff", groups=STAFF)
    assert result.status == 201, result.body
    return int(result.body["event_id"])


def join(event_id: int, user: str) -> ApiResult:
    result = call("join_event_queue", user=user, path_params={"event_id": str(event_id)})
    assert result.status == 200, result.body
    return result


def place(event_id: int, user: str) -> ApiResult:
    return call("get_event_queue_place", user=user, path_params={"event_id": str(event_id)})


def buy_with(event_id: int, user: str, queue_pass: str | None, quantity: int = 1) -> ApiResult:
    body: dict[str, Any] = {"event_id": event_id, "quantity": quantity}
    if queue_pass is not None:
        body["queue_pass"] = queue_pass
    return call("create_ticket_checkout", body, user=user)


def edit(event_id: int, body: dict[str, Any]) -> ApiResult:
    return call("update_event", body, user="user-staff", groups=STAFF, path_params={"event_id": str(event_id)})


def admit() -> None:
    wiring.queue_service().admit_once()


def taken(event_id: int) -> tuple[int, int, int]:
    repository = wiring.ticket_repository()
    event = repository.get_event(event_id)
    assert event is not None
    held = sum(line.quantity for line in repository.ticket_lines(event) if line.status in UNPAID_HOLDS or line.status == TicketStatus.PAID)
    return event.capacity, event.available, held


def ticket_items(client: Any) -> list[dict[str, Any]]:
    return [item for item in scan(client, TICKETS) if str(item["pk"]).startswith("TICKET#")]


@pytest.mark.parametrize("shards", [1, 3])
def test_no_pass_no_seat_nothing_written(shards: int, stripe_fake: StripeFake, dynamodb: Any) -> None:
    event_id = queued_event(10, shards)
    before = scan(dynamodb, TICKETS)
    refused = buy(event_id, 1)
    assert refused.status == 403, refused.body
    assert scan(dynamodb, TICKETS) == before


@pytest.mark.parametrize("token", ["x", "a" * 50, "e30.e30", "....", "AAAA.BBBB", "\u00e9t\u00e9"])
def test_forged_passes_are_refused_not_500(token: str, stripe_fake: StripeFake, dynamodb: Any) -> None:
    event_id = queued_event(10)
    join(event_id, "user-alice")
    admit()
    result = buy_with(event_id, "user-alice", token)
    assert result.status in (400, 403), result.body
    assert ticket_items(dynamodb) == []


def test_another_buyers_pass_is_refused(stripe_fake: StripeFake, dynamodb: Any) -> None:
    event_id = queued_event(10)
    alice = join(event_id, "user-alice").body["queue_pass"]
    join(event_id, "user-bob")
    admit()
    result = buy_with(event_id, "user-bob", alice)
    assert result.status == 403, result.body
    assert ticket_items(dynamodb) == []


def test_a_pass_of_another_queued_event_is_refused(stripe_fake: StripeFake, dynamodb: Any) -> None:
    first, second = queued_event(10), queued_event(10)
    from_first = join(first, "user-alice").body["queue_pass"]
    join(second, "user-alice")
    admit()
    result = buy_with(second, "user-alice", from_first)
    assert result.status == 403, result.body
    assert ticket_items(dynamodb) == []


def test_waiting_buyer_is_refused_with_place(stripe_fake: StripeFake, dynamodb: Any) -> None:
    event_id = queued_event(10)
    answer = join(event_id, "user-alice").body  # not admitted: no admitter step yet
    assert answer["status"] != "admitted", answer
    result = buy_with(event_id, "user-alice", answer["queue_pass"])
    assert result.status == 403, result.body
    assert ticket_items(dynamodb) == []


def test_admitted_buyers_beyond_the_seats_never_oversell(stripe_fake: StripeFake) -> None:
    event_id = queued_event(3, shards=2)
    buyers = [f"user-{n}" for n in range(9)]
    for buyer in buyers:
        join(event_id, buyer)
    admit()
    results = []
    for buyer in buyers:
        answer = place(event_id, buyer).body
        results.append((answer["status"], buy_with(event_id, buyer, answer["queue_pass"]).status))
    assert sum(1 for _, status in results if status == 200) == 3, results
    capacity, available, held = taken(event_id)
    assert held <= capacity == 3 and available + held == capacity, (capacity, available, held)


def test_admission_used_once_even_from_two_tabs(stripe_fake: StripeFake) -> None:
    event_id = queued_event(10)
    join(event_id, "user-alice")
    admit()
    queue_pass = place(event_id, "user-alice").body["queue_pass"]
    first = buy_with(event_id, "user-alice", queue_pass)
    second = buy_with(event_id, "user-alice", queue_pass)
    assert first.status == 200, first.body
    assert second.status == 409, second.body
    assert taken(event_id)[2] == 1


@pytest.mark.parametrize("shards", [1, 4])
def test_capacity_raised_on_a_queued_event_stays_queued(shards: int, stripe_fake: StripeFake, dynamodb: Any) -> None:
    event_id = queued_event(4, shards)
    assert edit(event_id, {"capacity": 40}).status == 200
    before = scan(dynamodb, TICKETS)
    refused = buy(event_id, 1)
    assert refused.status == 403, refused.body
    assert scan(dynamodb, TICKETS) == before


def test_enable_after_capacity_edit_marks_every_shard(stripe_fake: StripeFake, dynamodb: Any) -> None:
    event_id = create_event(capacity=8, seat_shards=4)
    assert edit(event_id, {"capacity": 12}).status == 200
    enabled = call("enable_event_queue", user="user-staff", groups=STAFF, path_params={"event_id": str(event_id)})
    assert enabled.status == 200, enabled.body
    for _ in range(6):
        assert buy(event_id, 2).status == 403
    assert taken(event_id) == (12, 12, 0)


def test_enable_refused_once_a_seat_is_taken_even_after_a_capacity_raise(stripe_fake: StripeFake) -> None:
    event_id = create_event(capacity=4, seat_shards=2)
    assert buy(event_id, 1).status == 200
    assert edit(event_id, {"capacity": 20}).status == 200
    enabled = call("enable_event_queue", user="user-staff", groups=STAFF, path_params={"event_id": str(event_id)})
    assert enabled.status == 409, enabled.body


def test_capacity_lowered_under_admitted_buyers_never_oversells(stripe_fake: StripeFake) -> None:
    event_id = queued_event(6, shards=3)
    buyers = [f"user-{n}" for n in range(6)]
    for buyer in buyers:
        join(event_id, buyer)
    admit()
    passes = {buyer: place(event_id, buyer).body["queue_pass"] for buyer in buyers}
    assert buy_with(event_id, buyers[0], passes[buyers[0]]).status == 200
    assert edit(event_id, {"capacity": 2}).status == 200
    statuses = [buy_with(event_id, buyer, passes[buyer]).status for buyer in buyers[1:]]
    assert statuses.count(200) <= 1, statuses
    capacity, available, held = taken(event_id)
    assert capacity == 2 and held <= 2 and available + held == 2


def test_paused_queued_event_refuses_admitted_buyer_and_keeps_the_admission(stripe_fake: StripeFake) -> None:
    event_id = queued_event(5)
    join(event_id, "user-alice")
    admit()
    queue_pass = place(event_id, "user-alice").body["queue_pass"]
    assert edit(event_id, {"sales_paused": True}).status == 200
    paused = buy_with(event_id, "user-alice", queue_pass)
    assert paused.status == 400 and paused.body["error"] == "Sales are paused", paused.body
    assert edit(event_id, {"sales_paused": False}).status == 200
    resumed = buy_with(event_id, "user-alice", queue_pass)
    assert resumed.status == 200, resumed.body


def test_poll_hints_are_bounded(stripe_fake: StripeFake) -> None:
    event_id = queued_event(2)
    for n in range(5):
        join(event_id, f"user-{n}")
    admit()
    for n in range(5):
        answer = place(event_id, f"user-{n}")
        assert answer.status == 200, answer.body
        assert 0 <= answer.body["poll_after_ms"] <= 60_000, answer.body


# the queue and the sale window ------------------------------------------------------------------


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def services_at(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The queue and the ticket services on one virtual clock (the handlers use them through wiring)."""
    from payments import settings
    from payments.domain.admission import AdmissionPolicy
    from payments.domain.queue import QueueService
    from payments.domain.tickets import TicketService
    from payments.repositories.queue import QueueRepository

    config = settings.get_settings()
    tickets = wiring.ticket_repository()
    policy = AdmissionPolicy(
        rate_per_second=config.stripe_session_rate_per_second,
        window_ms=config.queue_admission_window_seconds * 1000,
        completion_percent=config.queue_completion_percent,
        poll_budget_per_second=config.queue_poll_budget_per_second,
    )
    queue = QueueService(
        tickets.get_event,
        lambda event_id: sum(tickets.availability(event_id).values()),
        QueueRepository(dynamodb_client(), config.tickets_table),
        wiring._queue_pass_key,
        policy,
        config.queue_pass_seconds,
        clock=clock,
    )
    service = TicketService(tickets, wiring.stripe_gateway, config, clock=clock, queue=lambda: queue, pacer=None)
    monkeypatch.setattr(wiring, "queue_service", lambda: queue)
    monkeypatch.setattr(wiring, "ticket_service", lambda: service)


def test_buyers_queued_before_the_sale_opens_keep_their_turn(stripe_fake: StripeFake, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    start = float(int(time.time()))
    clock = Clock(start)
    services_at(clock, monkeypatch)
    body = {"name": "On-sale", "price": 25, "currency": "usd", "capacity": 10, "on_sale_queue": True, "opens_at": int(start) + 600}
    created = call("create_event", body, user="user-staff", groups=STAFF)
    assert created.status == 201, created.body
    event_id = int(created.body["event_id"])
    join(event_id, "user-first")
    wiring.queue_service().admit_once()  # the admitter's schedule runs while the buyers wait for the opening
    early = buy_with(event_id, "user-first", place(event_id, "user-first").body["queue_pass"])
    assert early.status == 400 and "opens" in early.body["error"], early.body
    clock.now = start + 601  # the sale opens
    wiring.queue_service().admit_once()
    answer = place(event_id, "user-first").body
    bought = buy_with(event_id, "user-first", answer["queue_pass"])
    assert bought.status == 200, (answer, bought.body)


def test_buyers_admitted_during_a_pause_keep_their_turn(stripe_fake: StripeFake, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    start = float(int(time.time()))
    clock = Clock(start)
    services_at(clock, monkeypatch)
    event_id = queued_event(10)
    assert edit(event_id, {"sales_paused": True}).status == 200
    join(event_id, "user-first")
    wiring.queue_service().admit_once()
    clock.now = start + 600  # staff resume ten minutes later
    assert edit(event_id, {"sales_paused": False}).status == 200
    wiring.queue_service().admit_once()
    answer = place(event_id, "user-first").body
    bought = buy_with(event_id, "user-first", answer["queue_pass"])
    assert bought.status == 200, (answer, bought.body)


def test_sold_out_queue_sells_the_seats_a_raise_adds(stripe_fake: StripeFake) -> None:
    event_id = queued_event(1)
    buyers = [f"user-{n}" for n in range(4)]
    for buyer in buyers:
        join(event_id, buyer)
    admit()
    statuses = [buy_with(event_id, buyer, place(event_id, buyer).body["queue_pass"]).status for buyer in buyers]
    assert statuses.count(200) == 1, statuses
    admit()
    assert edit(event_id, {"capacity": 3}).status == 200
    admit()
    later = [buy_with(event_id, buyer, place(event_id, buyer).body["queue_pass"]).status for buyer in buyers]
    assert later.count(200) == 2, later
    assert taken(event_id) == (3, 0, 3)


def test_sales_view_agrees_after_edits_cancels_and_payments(stripe_fake: StripeFake) -> None:
    from tests.support.flows import cancel, pay, verify

    event_id = create_event(capacity=10, seat_shards=3)
    first = buy(event_id, 3, user="user-a")
    second = buy(event_id, 2, user="user-b")
    pay(stripe_fake, first.body["session_id"])
    assert verify(first.body["session_id"], first.body["ticket_id"], user="user-a").status == 200
    assert edit(event_id, {"capacity": 7}).status == 200
    assert cancel(second.body["ticket_id"], user="user-b").status == 200
    assert edit(event_id, {"capacity": 12, "price": 30}).status == 200
    third = buy(event_id, 4, user="user-c")
    assert third.status == 200
    sales = call("get_event_sales", user="user-staff", groups=STAFF, path_params={"event_id": str(event_id)})
    assert sales.status == 200, sales.body
    body = sales.body
    assert (body["capacity"], body["sold"], body["held"], body["available"]) == (12, 3, 4, 5), body
    assert body["gross"] == 75, body  # the paid ticket at the price it was bought at, not the new one


@pytest.mark.parametrize("capacity", [24, 6])
def test_enable_racing_a_capacity_edit_leaves_every_shard_queued(
    capacity: int, stripe_fake: StripeFake, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    event_id = create_event(capacity=12, seat_shards=4)
    repository = wiring.ticket_repository()
    real_update = repository.update_event
    fired: list[bool] = []

    def enable_first(*args: Any, **kwargs: Any) -> None:
        if not fired:
            fired.append(True)
            enabled = call("enable_event_queue", user="user-staff", groups=STAFF, path_params={"event_id": str(event_id)})
            assert enabled.status == 200, enabled.body
        real_update(*args, **kwargs)

    monkeypatch.setattr(repository, "update_event", enable_first)
    result = edit(event_id, {"capacity": capacity})
    monkeypatch.setattr(repository, "update_event", real_update)
    assert result.status == 200, result.body
    assert result.body["on_sale_queue"] is True, result.body
    shards = [item for item in scan(dynamodb, TICKETS) if str(item["pk"]).startswith(f"EVENT#{event_id}")]
    assert len(shards) == 4 and all(item.get("on_sale_queue") is True for item in shards), shards
    assert sum(item["shard_capacity"] for item in shards) == capacity
    for _ in range(5):
        assert buy(event_id, 2).status == 403
    assert taken(event_id) == (capacity, capacity, 0)
