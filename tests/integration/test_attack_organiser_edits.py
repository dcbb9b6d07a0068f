"""Attacks on staff edits of an event (PATCH /api/events/{event_id}/) and on its sale window and
pause, through the handlers on moto: who may edit, what input is refused (a 400 naming the field,
nothing written, never a 500), capacity never below the seats held and sold and no oversell with
purchases, cancels and edits interleaved, a price change only for later purchases."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from local.stripe_fake import StripeFake
from payments import wiring
from payments.domain.lifecycle import UNPAID_HOLDS, TicketStatus
from payments.dynamodb import get_client as dynamodb_client
from tests.support.dynamo import TICKETS, scan
from tests.support.flows import STAFF, buy, cancel, create_event, deliver_webhook, pay, verify
from tests.support.lambdas import ApiResult, call

pytestmark = pytest.mark.usefixtures("dynamodb")


def edit(event_id: int | str, body: Any = None, *, groups: str = STAFF, user: str = "user-staff", raw: str | None = None) -> ApiResult:
    return call("update_event", body, user=user, groups=groups, path_params={"event_id": str(event_id)}, raw_body=raw)


def event_items(client: Any) -> list[dict[str, Any]]:
    return sorted(scan(client, TICKETS), key=lambda item: (str(item["pk"]), str(item["sk"])))


def seats(event_id: int) -> tuple[int, int, int]:
    """(capacity, seats left over every shard, seats held and sold by the tickets)."""
    repository = wiring.ticket_repository()
    event = repository.get_event(event_id)
    assert event is not None
    taken = sum(line.quantity for line in repository.ticket_lines(event) if line.status in UNPAID_HOLDS or line.status == TicketStatus.PAID)
    return event.capacity, event.available, taken


def assert_balanced(event_id: int) -> None:
    capacity, available, taken = seats(event_id)
    assert available >= 0
    assert taken <= capacity, f"oversold: {taken} seats held and sold of {capacity}"
    assert available + taken == capacity, (capacity, available, taken)


# who may edit --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "groups", ["[customers]", "[staffers]", "[not-staff]", "Staff", "[customers  staff]", "staff,admin", "[ staff ]", ""]
)
def test_only_exact_staff_membership_edits(groups: str, dynamodb: Any) -> None:
    event_id = create_event(capacity=10)
    before = event_items(dynamodb)
    result = edit(event_id, {"capacity": 1000, "price": 1}, groups=groups)
    assert result.status == 403, result.body
    assert event_items(dynamodb) == before


def test_no_token_is_401_and_writes_nothing(dynamodb: Any) -> None:
    event_id = create_event(capacity=10)
    before = event_items(dynamodb)
    result = call("update_event", {"sales_paused": True}, user=None, path_params={"event_id": str(event_id)})
    assert result.status == 401, result.body
    assert event_items(dynamodb) == before


# bad input -----------------------------------------------------------------------------------

BAD_BODIES: list[tuple[Any, str]] = [
    ({"capacity": 0}, "capacity"),
    ({"capacity": -5}, "capacity"),
    ({"capacity": 1.5}, "capacity"),
    ({"capacity": "10"}, "capacity"),
    ({"capacity": True}, "capacity"),
    ({"capacity": 10**30}, "capacity"),
    ({"capacity": None}, "capacity"),
    ({"price": -1}, "price"),
    ({"price": "abc"}, "price"),
    ({"price": "NaN"}, "price"),
    ({"price": "Infinity"}, "price"),
    ({"price": 0.001}, "price"),
    ({"price": 0.1}, "price"),  # below Stripe's minimum charge in usd
    ({"price": 10**12}, "price"),
    ({"price": None}, "price"),
    ({"name": None}, "name"),
    ({"name": ""}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"description": "x" * 2001}, "description"),
    ({"sales_paused": "yes"}, "sales_paused"),
    ({"sales_paused": None}, "sales_paused"),
    ({"sales_paused": 1}, "sales_paused"),
    ({"opens_at": -1}, "opens_at"),
    ({"opens_at": 10**20}, "opens_at"),
    ({"closes_at": 1.5}, "closes_at"),
    ({"starts_at": "tomorrow"}, "starts_at"),
    ({"opens_at": 2000, "closes_at": 1000}, "closes_at"),
    ({"opens_at": 2000, "closes_at": 2000}, "closes_at"),
    ({}, "body"),
    ({"currency": "eur"}, "currency"),
    ({"available": 100000}, "available"),
    ({"version": 0}, "version"),
    ({"seat_shards": 8}, "seat_shards"),
    ({"on_sale_queue": True}, "on_sale_queue"),
    ({"created_by": "user-mallory"}, "created_by"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES, ids=[json.dumps(body)[:40] for body, _ in BAD_BODIES])
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(body: Any, field: str, dynamodb: Any) -> None:
    event_id = create_event(capacity=10)
    before = event_items(dynamodb)
    result = edit(event_id, body)
    assert result.status == 400, result.body
    assert field in result.body["error"], result.body
    assert event_items(dynamodb) == before


@pytest.mark.parametrize("raw", ["[]", "null", "{", "", "42", '"capacity"', '{"capacity": 5, "capacity": 5000000}', "\x00"])
def test_malformed_bodies_are_400s(raw: str, dynamodb: Any) -> None:
    event_id = create_event(capacity=10)
    before = event_items(dynamodb)
    result = edit(event_id, raw=raw)
    assert result.status == 400, result.body
    assert event_items(dynamodb) == before


@pytest.mark.parametrize("path", ["abc", "0", "-1", "1e3", "99999999999999999999999", " 1", "1.0"])
def test_bad_event_ids_are_400_or_404(path: str, dynamodb: Any) -> None:
    create_event(capacity=10)
    before = event_items(dynamodb)
    result = edit(path, {"sales_paused": True})
    assert result.status in (400, 404), result.body
    assert event_items(dynamodb) == before


def test_unknown_event_is_404(dynamodb: Any) -> None:
    result = edit(987654, {"capacity": 5})
    assert result.status == 404, result.body


def test_window_edit_moving_one_end_past_the_stored_other_is_refused(dynamodb: Any) -> None:
    future = int(time.time()) + 3600
    event_id = create_event(capacity=10)
    assert edit(event_id, {"opens_at": future, "closes_at": future + 100}).status == 200
    before = event_items(dynamodb)
    moved = edit(event_id, {"opens_at": future + 100})
    assert moved.status == 400 and "opens_at" in moved.body["error"], moved.body
    closed = edit(event_id, {"closes_at": future - 1})
    assert closed.status == 400 and "closes_at" in closed.body["error"], closed.body
    assert event_items(dynamodb) == before


# capacity ------------------------------------------------------------------------------------


@pytest.mark.parametrize("shards", [1, 3])
def test_capacity_never_lowered_below_seats_held_and_sold(shards: int, stripe_fake: StripeFake, dynamodb: Any) -> None:
    event_id = create_event(capacity=12, seat_shards=shards)
    first = buy(event_id, 3, user="user-alice")
    second = buy(event_id, 2, user="user-bob")
    assert first.status == second.status == 200
    pay(stripe_fake, first.body["session_id"])
    assert verify(first.body["session_id"], first.body["ticket_id"], user="user-alice").status == 200
    before = event_items(dynamodb)
    refused = edit(event_id, {"capacity": 4})
    assert refused.status == 400 and "capacity" in refused.body["error"] and "5" in refused.body["error"], refused.body
    assert event_items(dynamodb) == before
    lowered = edit(event_id, {"capacity": 5})
    assert lowered.status == 200, lowered.body
    assert seats(event_id) == (5, 0, 5)
    sold_out = buy(event_id, 1, user="user-carol")
    assert sold_out.status == 400, sold_out.body
    assert_balanced(event_id)


def test_capacity_raised_after_sell_out_sells_exactly_the_new_seats(stripe_fake: StripeFake) -> None:
    event_id = create_event(price=0, capacity=2, seat_shards=2)
    assert buy(event_id, 2, user="user-a").status == 200
    assert buy(event_id, 1, user="user-b").status == 400
    assert edit(event_id, {"capacity": 5}).status == 200
    bought = [buy(event_id, 1, user=f"user-{n}").status for n in range(6)]
    assert bought.count(200) == 3, bought
    assert seats(event_id) == (5, 0, 5)


def test_cancelled_seats_after_a_cut_return_without_oversell(stripe_fake: StripeFake) -> None:
    event_id = create_event(capacity=6, seat_shards=3)
    held = [buy(event_id, 2, user=f"user-{n}") for n in range(3)]
    assert all(result.status == 200 for result in held)
    assert edit(event_id, {"capacity": 6}).status == 200  # unchanged capacity: no seat moves
    assert cancel(held[0].body["ticket_id"], user="user-0").status == 200
    assert edit(event_id, {"capacity": 4}).status == 200
    assert seats(event_id) == (4, 0, 4)
    # A second cancel gives seats back to shards that were cut: they must not grow past their capacity.
    assert cancel(held[1].body["ticket_id"], user="user-1").status == 200
    assert_balanced(event_id)
    assert seats(event_id) == (4, 2, 2)
    assert edit(event_id, {"capacity": 2}).status == 200
    assert buy(event_id, 1, user="user-x").status == 400
    assert_balanced(event_id)


def test_purchase_that_read_before_a_cut_cannot_oversell(stripe_fake: StripeFake, monkeypatch: pytest.MonkeyPatch) -> None:
    event_id = create_event(capacity=10, seat_shards=4)
    assert buy(event_id, 2, user="user-bob").status == 200
    repository = wiring.ticket_repository()
    real_get = repository.get_event
    fired: list[bool] = []

    def get_then_cut(wanted: int) -> Any:
        event = real_get(wanted)
        if not fired:
            fired.append(True)
            assert edit(event_id, {"capacity": 2}).status == 200  # staff cut every free seat meanwhile
        return event

    monkeypatch.setattr(repository, "get_event", get_then_cut)
    late = buy(event_id, 3, user="user-alice")
    monkeypatch.setattr(repository, "get_event", real_get)
    assert late.status == 400, late.body
    assert seats(event_id) == (2, 0, 2)


def test_edit_that_read_before_a_purchase_is_decided_again(stripe_fake: StripeFake, monkeypatch: pytest.MonkeyPatch) -> None:
    event_id = create_event(capacity=10, seat_shards=2)
    assert buy(event_id, 2, user="user-bob").status == 200
    repository = wiring.ticket_repository()
    real_update = repository.update_event
    fired: list[bool] = []

    def purchase_then_update(*args: Any, **kwargs: Any) -> None:
        if not fired:
            fired.append(True)
            assert buy(event_id, 4, user="user-alice").status == 200  # lands between the edit's read and write
        real_update(*args, **kwargs)

    monkeypatch.setattr(repository, "update_event", purchase_then_update)
    result = edit(event_id, {"capacity": 3})  # read: 2 taken, so 3 looked fine; now 6 are taken
    monkeypatch.setattr(repository, "update_event", real_update)
    assert result.status == 400 and "capacity" in result.body["error"], result.body
    assert seats(event_id) == (10, 4, 6)


def test_two_staff_edits_racing_neither_overwrites_unseen(stripe_fake: StripeFake, monkeypatch: pytest.MonkeyPatch) -> None:
    event_id = create_event(capacity=10, seat_shards=2)
    repository = wiring.ticket_repository()
    real_update = repository.update_event
    fired: list[bool] = []

    def other_edit_first(*args: Any, **kwargs: Any) -> None:
        if not fired:
            fired.append(True)
            assert edit(event_id, {"capacity": 20}).status == 200
        real_update(*args, **kwargs)

    monkeypatch.setattr(repository, "update_event", other_edit_first)
    result = edit(event_id, {"capacity": 15, "name": "Renamed"})
    monkeypatch.setattr(repository, "update_event", real_update)
    assert result.status == 200, result.body
    assert result.body["capacity"] == 15 and result.body["name"] == "Renamed"
    assert seats(event_id) == (15, 15, 0)
    assert sum(wiring.ticket_repository().availability(event_id).values()) == 15


def test_edit_always_losing_its_race_is_a_409_with_nothing_written(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from payments.domain.ports import StateChanged

    event_id = create_event(capacity=10)
    before = event_items(dynamodb)
    repository = wiring.ticket_repository()

    def always_raced(*args: Any, **kwargs: Any) -> None:
        raise StateChanged()

    monkeypatch.setattr(repository, "update_event", always_raced)
    result = edit(event_id, {"capacity": 11})
    assert result.status == 409, result.body
    assert event_items(dynamodb) == before


# price ---------------------------------------------------------------------------------------


def test_price_change_applies_only_to_later_purchases(stripe_fake: StripeFake) -> None:
    event_id = create_event(price=25, capacity=10)
    early = buy(event_id, 2, user="user-alice")
    assert early.status == 200
    assert edit(event_id, {"price": 40}).status == 200
    late = buy(event_id, 1, user="user-bob")
    assert late.status == 200
    assert stripe_fake.sessions[early.body["session_id"]]["amount_total"] == 5000
    assert stripe_fake.sessions[late.body["session_id"]]["amount_total"] == 4000
    # The early buyer pays the old price: their ticket is issued, not refused for a price mismatch.
    completed = pay(stripe_fake, early.body["session_id"])
    assert deliver_webhook(completed).status == 200
    paid = verify(early.body["session_id"], early.body["ticket_id"], user="user-alice")
    assert paid.status == 200, paid.body
    assert wiring.ticket_repository().get_ticket(early.body["ticket_id"]).unit_amount == 2500  # type: ignore[union-attr]


def test_price_edit_to_free_and_back_keeps_paid_reservation(stripe_fake: StripeFake) -> None:
    event_id = create_event(price=25, capacity=10)
    early = buy(event_id, 1, user="user-alice")
    assert edit(event_id, {"price": 0}).status == 200
    free = buy(event_id, 1, user="user-bob")
    assert free.status == 200 and "session_id" not in free.body, free.body
    assert edit(event_id, {"price": 19.99}).status == 200
    pay(stripe_fake, early.body["session_id"])
    assert verify(early.body["session_id"], early.body["ticket_id"], user="user-alice").status == 200
    assert_balanced(event_id)


# sale windows and pause ----------------------------------------------------------------------


def test_purchase_before_opens_at_writes_nothing(stripe_fake: StripeFake, dynamodb: Any) -> None:
    event_id = create_event(capacity=10)
    assert edit(event_id, {"opens_at": int(time.time()) + 3600}).status == 200
    before = event_items(dynamodb)
    result = buy(event_id, 1)
    assert result.status == 400 and "opens" in result.body["error"], result.body
    assert event_items(dynamodb) == before
    assert not stripe_fake.sessions


def test_purchase_after_closes_at_writes_nothing(stripe_fake: StripeFake, dynamodb: Any) -> None:
    event_id = create_event(capacity=10)
    assert edit(event_id, {"closes_at": int(time.time()) - 1}).status == 200
    before = event_items(dynamodb)
    result = buy(event_id, 1)
    assert result.status == 400 and "closed" in result.body["error"], result.body
    assert event_items(dynamodb) == before
    assert not stripe_fake.sessions
    assert edit(event_id, {"closes_at": None}).status == 200
    assert buy(event_id, 1).status == 200


@pytest.mark.parametrize("price", [0, 25])
def test_paused_sale_refuses_free_and_paid_alike(price: int, stripe_fake: StripeFake, dynamodb: Any) -> None:
    event_id = create_event(price=price, capacity=10)
    assert edit(event_id, {"sales_paused": True}).status == 200
    before = event_items(dynamodb)
    result = buy(event_id, 1)
    assert result.status == 400 and result.body["error"] == "Sales are paused", result.body
    assert event_items(dynamodb) == before
    assert edit(event_id, {"sales_paused": False}).status == 200
    assert buy(event_id, 1).status == 200


def test_paused_sale_still_lets_a_reservation_be_paid(stripe_fake: StripeFake) -> None:
    event_id = create_event(capacity=10)
    held = buy(event_id, 1)
    assert edit(event_id, {"sales_paused": True}).status == 200
    pay(stripe_fake, held.body["session_id"])
    assert verify(held.body["session_id"], held.body["ticket_id"]).status == 200
    assert_balanced(event_id)


def test_created_with_closed_window_is_never_on_sale(stripe_fake: StripeFake) -> None:
    now = int(time.time())
    body = {"name": "Gone", "price": 10, "currency": "usd", "capacity": 5, "opens_at": now - 100, "closes_at": now - 50}
    created = call("create_event", body, user="user-staff", groups=STAFF)
    assert created.status == 201, created.body
    assert buy(int(created.body["event_id"]), 1).status == 400


# events written by earlier code ----------------------------------------------------------------


def legacy(client: Any, event_id: int) -> None:
    """The event's item as the code before seat shards (commit 02dcf50) wrote it: asdict(event), with
    neither ``shard_capacity`` nor ``seat_shards``, nor the ``version`` edits added."""
    client.update_item(
        TableName=TICKETS,
        Key={"pk": {"S": f"EVENT#{event_id}"}, "sk": {"S": "EVENT"}},
        UpdateExpression="REMOVE shard_capacity, seat_shards, version",
    )


def test_legacy_event_takes_a_name_and_price_edit(stripe_fake: StripeFake, dynamodb: Any) -> None:
    event_id = create_event(capacity=10)
    legacy(dynamodb, event_id)
    result = edit(event_id, {"name": "Renamed", "price": 30})
    assert result.status == 200, result.body
    assert buy(event_id, 1).status == 200


@pytest.mark.parametrize("capacity", [20, 5])
def test_legacy_event_capacity_edit_is_not_a_500(capacity: int, stripe_fake: StripeFake, dynamodb: Any) -> None:
    event_id = create_event(capacity=10)
    assert buy(event_id, 2).status == 200
    legacy(dynamodb, event_id)
    result = edit(event_id, {"capacity": capacity})
    assert result.status in (200, 400), result.body
    assert_balanced(event_id)


# a random walk of everything that moves seats ---------------------------------------------------


def table_client() -> Any:
    return dynamodb_client()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_walk_of_purchases_cancels_refunds_and_edits_never_oversells(seed: int, stripe_fake: StripeFake) -> None:
    import random

    rng = random.Random(seed)
    event_id = create_event(capacity=12, seat_shards=3)
    held: list[tuple[str, dict[str, Any]]] = []
    paid: list[tuple[str, dict[str, Any]]] = []
    for step in range(45):
        action = rng.choice(["buy", "buy", "buy", "pay", "cancel", "refund", "raise", "lower", "lower", "pause"])
        if action == "buy":
            user = f"user-{rng.randrange(8)}"
            result = buy(event_id, rng.randint(1, 3), user=user)
            assert result.status in (200, 400, 409, 429), result.body
            if result.status == 200:
                held.append((user, result.body))
        elif action == "pay" and held:
            user, body = held.pop(rng.randrange(len(held)))
            pay(stripe_fake, body["session_id"])
            assert verify(body["session_id"], body["ticket_id"], user=user).status == 200
            paid.append((user, body))
        elif action == "cancel" and held:
            user, body = held.pop(rng.randrange(len(held)))
            assert cancel(body["ticket_id"], user=user).status == 200
        elif action == "refund" and paid:
            _, body = paid.pop(rng.randrange(len(paid)))
            refunded = call("refund_ticket", {"ticket_id": body["ticket_id"]}, user="user-staff", groups=STAFF)
            assert refunded.status == 200, refunded.body
        elif action == "raise":
            assert edit(event_id, {"capacity": seats(event_id)[0] + rng.randint(1, 4)}).status == 200
        elif action == "lower":
            capacity, _, taken = seats(event_id)
            wanted = max(1, capacity - rng.randint(1, 6))
            result = edit(event_id, {"capacity": wanted})
            assert result.status == (200 if wanted >= taken else 400), (wanted, taken, result.body)
        elif action == "pause":
            assert edit(event_id, {"sales_paused": rng.random() < 0.3}).status == 200
        assert_balanced(event_id)
        availability = wiring.ticket_repository().availability(event_id)
        assert all(left >= 0 for left in availability.values()), (step, availability)
        shards = [item for item in scan(table_client(), TICKETS) if str(item["pk"]).startswith(f"EVENT#{event_id}")]
        assert len(shards) == 3
        assert all(0 <= item["available"] <= item["shard_capacity"] for item in shards), (step, shards)
        assert sum(item["shard_capacity"] for item in shards) == seats(event_id)[0], (step, shards)


# threads: purchases, give-backs and edits at once --------------------------------------------------


def test_threads_buying_giving_back_and_editing_at_once_never_oversell(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Free tickets (no pacer, no Stripe) bought and given back by eight threads while a ninth
    raises and cuts the capacity, every DynamoDB request through one lock (moto has none)."""
    import random
    import threading

    from payments import dynamodb as dynamodb_module
    from tests.support.dynamo import SerialisedClient

    serialised = SerialisedClient(dynamodb_client())
    monkeypatch.setattr(dynamodb_module, "get_client", lambda: serialised)
    wiring.ticket_repository.cache_clear()  # type: ignore[attr-defined]
    wiring.ticket_service.cache_clear()  # type: ignore[attr-defined]
    wiring.event_service.cache_clear()  # type: ignore[attr-defined]
    event_id = create_event(price=0, capacity=16, seat_shards=4)
    errors: list[str] = []
    stop = threading.Event()

    def buyer(number: int) -> None:
        rng = random.Random(number)
        for turn in range(12):
            user = f"user-{number}-{turn}"
            result = buy(event_id, rng.randint(1, 3), user=user)
            if result.status >= 500:
                errors.append(f"buy {result.status} {result.body}")
            elif result.status == 200 and rng.random() < 0.4:
                given = cancel(int(result.body["ticket_id"]), user=user)
                if given.status != 200:
                    errors.append(f"give back {given.status} {given.body}")

    def staff() -> None:
        rng = random.Random(99)
        while not stop.is_set():
            result = edit(event_id, {"capacity": rng.randint(4, 30)})
            if result.status not in (200, 400, 409):
                errors.append(f"edit {result.status} {result.body}")

    threads = [threading.Thread(target=buyer, args=(number,)) for number in range(8)]
    editor = threading.Thread(target=staff)
    editor.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    stop.set()
    editor.join(30)
    assert errors == []
    assert_balanced(event_id)
    shards = [item for item in scan(dynamodb, TICKETS) if str(item["pk"]).startswith(f"EVENT#{event_id}")]
    assert all(0 <= item["available"] <= item["shard_capacity"] for item in shards), shards
    assert sum(item["shard_capacity"] for item in shards) == seats(event_id)[0]


def test_free_ticket_given_back_after_the_event_turned_paid(stripe_fake: StripeFake) -> None:
    event_id = create_event(price=0, capacity=3)
    free = buy(event_id, 2, user="user-alice")
    assert free.status == 200, free.body
    assert edit(event_id, {"price": 25}).status == 200
    assert cancel(int(free.body["ticket_id"]), user="user-alice").status == 200
    assert seats(event_id) == (3, 3, 0)
    paid = buy(event_id, 3, user="user-bob")
    assert paid.status == 200 and paid.body["session_id"], paid.body
    assert_balanced(event_id)


def test_paid_reservation_cancelled_after_the_event_turned_free(stripe_fake: StripeFake) -> None:
    event_id = create_event(price=25, capacity=3)
    held = buy(event_id, 2, user="user-alice")
    assert edit(event_id, {"price": 0}).status == 200
    assert cancel(int(held.body["ticket_id"]), user="user-alice").status == 200
    assert seats(event_id) == (3, 3, 0)
    assert buy(event_id, 3, user="user-bob").status == 200
    assert seats(event_id) == (3, 0, 3)
