"""Attacks on today's changes: the pay path reading every money-back fact (47174eb), seats given
back conditioned on the shards as read, the money records as typed facts (65a1722, fb40a54) and
the hot-key migration (439748d, 6fffcd9). Each test drives the handlers over moto and the local
Stripe, then checks the contract from the outside: per payment, what Stripe took = what it kept +
what went back, at Stripe and in our records; seats never lost or doubled, shard by shard; the
sales view equal to a recount of the tickets and of Stripe. A strict xfail is a break found."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest

from local.stripe_fake import StripeFake
from tests.support.flows import STAFF, buy, cancel, create_event, deliver_webhook, pay
from tests.support.lambdas import call

TICKETS, PAYMENTS = "test-tickets", "test-payments"
HOLDING = ("reserved", "processing", "paid")
RETURNED = ("succeeded", "pending", "requires_action")


# the world, read from outside ------------------------------------------------------------------
def staff(function: str, body: Any = None, **options: Any) -> Any:
    return call(function, body, user="user-staff", groups=STAFF, **options)


def sales(event_id: int) -> dict[str, Any]:
    result = staff("get_event_sales", path_params={"event_id": str(event_id)})
    assert result.status == 200, result.body
    return dict(result.body)


def _plain(value: Any) -> Any:
    from payments.dynamodb import from_item

    return from_item(value)


def scan(client: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**request)
        items += [_plain(item) for item in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def tickets_of(client: Any, event_id: int) -> list[dict[str, Any]]:
    return [item for item in scan(client, TICKETS) if item["sk"] == "TICKET" and int(item["event_id"]) == event_id]


def ticket_item(client: Any, ticket_id: int) -> dict[str, Any]:
    found = client.get_item(TableName=TICKETS, Key={"pk": {"S": f"TICKET#{ticket_id}"}, "sk": {"S": "TICKET"}}, ConsistentRead=True)
    return dict(_plain(found["Item"]))


def shard_seats(client: Any, event_id: int) -> dict[int, int]:
    """Every shard item of the event, wherever it lives (the event item is shard 0)."""
    seats: dict[int, int] = {}
    for item in scan(client, TICKETS):
        if item["sk"] == "EVENT" and item["pk"] == f"EVENT#{event_id}":
            seats[0] = int(item["available"])
        elif str(item["sk"]).startswith("SEATS#") and int(item.get("event_id", -1)) == event_id:
            shard = int(str(item["sk"]).removeprefix("SEATS#"))
            assert shard not in seats, f"shard {shard} of event {event_id} at two keys"
            seats[shard] = int(item["available"])
    return seats


def held_by_shard(ticket: dict[str, Any]) -> dict[int, int]:
    """The seats a ticket holds, by shard: all of them while it holds seats, else its admitted
    people's, counted from the lowest shard up (``Ticket.unadmitted_parts``)."""
    parts = {int(shard): int(count) for shard, count in (ticket.get("seat_parts") or {"0": ticket["quantity"]}).items()}
    if ticket["status"] in HOLDING:
        return parts
    admitted, held = int(ticket.get("checked_in", 0)), {}
    for shard in sorted(parts):
        held[shard] = min(admitted, parts[shard])
        admitted -= held[shard]
    return held


def capacities(client: Any, event_id: int) -> dict[int, int]:
    caps: dict[int, int] = {}
    for item in scan(client, TICKETS):
        if item["pk"] == f"EVENT#{event_id}" and item["sk"] == "EVENT":
            caps[0] = int(item["shard_capacity"])
        elif str(item["sk"]).startswith("SEATS#") and int(item.get("event_id", -1)) == event_id:
            caps[int(str(item["sk"]).removeprefix("SEATS#"))] = int(item["shard_capacity"])
    return caps


def assert_seats_conserved(client: Any, event_id: int) -> None:
    seats, caps = shard_seats(client, event_id), capacities(client, event_id)
    held = dict.fromkeys(caps, 0)
    for ticket in tickets_of(client, event_id):
        for shard, count in held_by_shard(ticket).items():
            held[shard] += count
    assert {shard: seats[shard] + held[shard] for shard in caps} == caps, f"seats {seats} held {held} capacity {caps}"


def assert_sales_seats(client: Any, event_id: int) -> None:
    """The sales view's seats are the recount: sold (paid), held (reserved, processing), refunded
    (refunding, refunded) and checked in, as the tickets say; sold + held + available is the
    capacity less the seats of refunded tickets whose people were admitted."""
    tickets = tickets_of(client, event_id)
    count = {kind: sum(int(t["quantity"]) for t in tickets if t["status"] in statuses) for kind, statuses in SALES_KINDS.items()}
    kept = sum(int(t.get("checked_in", 0)) for t in tickets if t["status"] in ("refunding", "refunded"))
    view = sales(event_id)
    assert {kind: view[kind] for kind in SALES_KINDS} == count, (view, count)
    assert view["checked_in"] == sum(int(t.get("checked_in", 0)) for t in tickets), view
    assert view["sold"] + view["held"] + view["available"] + kept == view["capacity"], view


SALES_KINDS = {"sold": ("paid",), "held": ("reserved", "processing"), "refunded": ("refunding", "refunded")}


def stripe_returned(fake: StripeFake, intent: str) -> int:
    refunds = sum(int(r["amount"]) for r in fake.refunds.values() if r["payment_intent"] == intent and r["status"] in RETURNED)
    lost = sum(int(d["amount"]) for d in fake.disputes.values() if d["payment_intent"] == intent and d["status"] == "lost")
    return refunds + lost


def stripe_facts(fake: StripeFake, intent: str) -> dict[str, tuple[int, str]]:
    facts = {r["id"]: (int(r["amount"]), str(r["status"])) for r in fake.refunds.values() if r["payment_intent"] == intent}
    facts |= {
        d["id"]: (int(d["amount"]), "lost") for d in fake.disputes.values() if d["payment_intent"] == intent and d["status"] == "lost"
    }
    return facts


def assert_money_adds_up(fake: StripeFake, client: Any, event_id: int) -> None:
    """Per payment: the ticket's sum and its records are Stripe's; one payment record per payment;
    a ticket whose money all went back is refunded; the sales view is the recount."""
    records = scan(client, PAYMENTS)
    payments = [r for r in records if r.get("kind") == "ticket_checkout"]
    refunds = [r for r in records if r.get("kind") == "ticket_refund"]
    gross = returned_total = 0
    for ticket in tickets_of(client, event_id):
        session = fake.sessions.get(str(ticket.get("session_id")))
        intent = session.get("payment_intent") if session else None
        if not intent or fake.payment_intents[intent]["status"] != "succeeded":
            continue
        taken, back = int(fake.payment_intents[intent]["amount_received"]), stripe_returned(fake, intent)
        label = f"ticket {ticket['ticket_id']} ({ticket['status']})"
        mine = [p for p in payments if int(p["ticket_id"]) == int(ticket["ticket_id"])]
        assert len(mine) == 1 and int(mine[0]["amount"]) == taken, f"{label}: payment records {mine}"
        kept = {r["refund_id"]: (int(r["amount"]), str(r["status"])) for r in refunds if int(r["ticket_id"]) == int(ticket["ticket_id"])}
        assert kept == stripe_facts(fake, intent), f"{label}: refund records {kept} vs Stripe {stripe_facts(fake, intent)}"
        assert int(ticket.get("refund_amount") or 0) == back, f"{label}: refund_amount {ticket.get('refund_amount')} vs Stripe {back}"
        if back >= taken:
            assert ticket["status"] == "refunded", f"{label}: all {taken} back and still {ticket['status']}"
        gross += taken
        returned_total += back
    view = sales(event_id)
    assert Decimal(str(view["gross"])) * 100 == gross, f"sales gross {view['gross']} vs taken {gross}"
    assert Decimal(str(view["refunded_amount"])) * 100 == returned_total, f"sales refunded {view['refunded_amount']} vs {returned_total}"
    assert_sales_seats(client, event_id)


class Deliveries:
    """Stripe's events as the fake emits them, delivered when the test says (late, reordered)."""

    def __init__(self, fake: StripeFake) -> None:
        self.fake = fake
        self.seen = len(fake.events)

    def new(self) -> list[dict[str, Any]]:
        events = self.fake.events[self.seen :]
        self.seen = len(self.fake.events)
        return list(events)

    @staticmethod
    def deliver(events: list[dict[str, Any]]) -> None:
        for event in events:
            result = deliver_webhook(event)
            assert result.status == 200, (event["type"], result.status, result.body)


def paid_ticket(fake: StripeFake, event_id: int, quantity: int = 1, user: str = "user-alice") -> tuple[int, str, str]:
    """A ticket bought and paid (its webhook delivered): (ticket id, session id, payment intent)."""
    bought = buy(event_id, quantity, user=user)
    assert bought.status == 200, bought.body
    completed = pay(fake, bought.body["session_id"])
    deliver_webhook(completed)
    intent = fake.sessions[bought.body["session_id"]]["payment_intent"]
    return int(bought.body["ticket_id"]), bought.body["session_id"], str(intent)


@pytest.fixture
def world(dynamodb: Any, stripe_fake: StripeFake) -> Iterator[tuple[StripeFake, Any]]:
    yield stripe_fake, dynamodb


# 1. money-back facts in every order around the payment's webhook ---------------------------------
# Stripe-side steps on one 25.00 payment: a partial Dashboard refund, a dispute of the rest, the
# dispute lost, then the partial refund failing. The payment's webhook (and each step's events) are
# delivered at a chosen point: the sum, the records and the sales view must end as Stripe has it.
STEPS = ("refund_part", "dispute", "lose", "refund_fails")


def _run_steps(fake: StripeFake, intent: str, until: int, state: dict[str, Any]) -> None:
    for step in STEPS[state.get("done", 0) : until]:
        if step == "refund_part":
            state["refund"] = fake.dashboard_refund(intent, 1000)["id"]
        elif step == "dispute":
            state["dispute"] = fake.open_dispute(intent)["id"]
        elif step == "lose":
            fake.close_dispute(state["dispute"], won=False)
        elif step == "refund_fails":
            fake.fail_refund(state["refund"])
    state["done"] = until


@pytest.mark.parametrize("payment_at", range(len(STEPS) + 1))
@pytest.mark.parametrize("order", ["as_they_come", "reversed"])
def test_money_back_in_any_order_around_the_payment_webhook(world: tuple[StripeFake, Any], payment_at: int, order: str) -> None:
    fake, client = world
    event_id = create_event(price=25, capacity=10)
    bought = buy(event_id, 1)
    assert bought.status == 200
    deliveries = Deliveries(fake)
    payment = [pay(fake, bought.body["session_id"])]
    deliveries.new()
    intent = str(fake.sessions[bought.body["session_id"]]["payment_intent"])
    state: dict[str, Any] = {}
    held: list[dict[str, Any]] = []
    _run_steps(fake, intent, payment_at, state)
    held += deliveries.new()
    # Everything up to here happened at Stripe before the payment's webhook reached us.
    first = held if order == "as_they_come" else held[::-1]
    deliveries.deliver(first)
    deliveries.deliver(payment)
    _run_steps(fake, intent, len(STEPS), state)
    rest = deliveries.new()
    deliveries.deliver(rest if order == "as_they_come" else rest[::-1])
    assert_money_adds_up(fake, client, event_id)
    assert_seats_conserved(client, event_id)
    # 1500 of 2500 went back (the dispute), the partial refund failed: a paid ticket again.
    assert ticket_item(client, bought.body["ticket_id"])["status"] == "paid"


# 2. a sharded event: seats taken back by a partly admitted ticket ---------------------------------
def _into_shard(monkeypatch: pytest.MonkeyPatch, shard: int) -> None:
    """The next purchases look at ``shard`` first (the repository draws its start at random)."""
    from payments.repositories import tickets as repository

    class Drawn:
        @staticmethod
        def randbelow(n: int) -> int:
            return shard % n

    monkeypatch.setattr(repository, "secrets", Drawn)


def check_in(client: Any, ticket_id: int, event_id: int, count: int) -> None:
    code = ticket_item(client, ticket_id)["ticket_code"]
    result = staff("check_in_ticket", {"ticket_code": code, "event_id": event_id, "count": count})
    assert result.status == 200, result.body


def _admitted_ticket_on_a_full_shard(fake: StripeFake, client: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int, str, int]:
    """Two shards of 4 seats; Alice's 4 seats all on one of them, one of her people admitted."""
    event_id = create_event(price=25, capacity=8, seat_shards=2)
    ticket_id, _, intent = paid_ticket(fake, event_id, 4)
    parts = ticket_item(client, ticket_id)["seat_parts"]
    assert len(parts) == 1
    shard = int(next(iter(parts)))
    check_in(client, ticket_id, event_id, 1)
    return event_id, ticket_id, intent, shard


def _fill(fake: StripeFake, event_id: int, shard: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bob buys the 3 seats Alice's refund gave back to her shard; the other shard keeps its 4."""
    _into_shard(monkeypatch, shard)
    paid_ticket(fake, event_id, 3, user="user-bob")
    monkeypatch.undo()


def test_refused_refund_of_an_admitted_ticket_takes_seats_from_any_shard(
    world: tuple[StripeFake, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, client = world
    event_id, ticket_id, intent, shard = _admitted_ticket_on_a_full_shard(fake, client, monkeypatch)
    fake.open_dispute(intent)
    # The first refund call fails at Stripe (a 500): the ticket stays refunding, its 3 seats back on sale.
    fake.fail_next("/v1/refunds", status=500, type_="api_error", message="An unknown error occurred", code=None)
    first = staff("refund_ticket", {"ticket_id": ticket_id})
    assert first.status >= 500 or first.status == 409, first.body
    assert ticket_item(client, ticket_id)["status"] == "refunding"
    _fill(fake, event_id, shard, monkeypatch)
    assert shard_seats(client, event_id)[1 - shard] == 4
    again = staff("refund_ticket", {"ticket_id": ticket_id})
    assert_seats_conserved(client, event_id)
    assert again.status == 400, again.body
    # Stripe refused (disputed) and the event has 4 seats free: the ticket is paid again.
    assert ticket_item(client, ticket_id)["status"] == "paid", again.body


def test_failed_refund_of_an_admitted_ticket_is_paid_again_when_seats_are_free(
    world: tuple[StripeFake, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, client = world
    event_id, ticket_id, _, shard = _admitted_ticket_on_a_full_shard(fake, client, monkeypatch)
    deliveries = Deliveries(fake)
    refunded = staff("refund_ticket", {"ticket_id": ticket_id})
    assert refunded.status == 200, refunded.body
    deliveries.deliver(deliveries.new())
    _fill(fake, event_id, shard, monkeypatch)
    deliveries.new()
    fake.fail_refund(refunded.body["refund_id"])
    deliveries.deliver(deliveries.new())
    assert_seats_conserved(client, event_id)
    assert_money_adds_up(fake, client, event_id)
    assert ticket_item(client, ticket_id)["status"] == "paid"


# 3. two requests on one ticket, interleaved at the repository ------------------------------------
def interleave(monkeypatch: pytest.MonkeyPatch, trigger: str, meanwhile: Callable[[], None]) -> list[bool]:
    """Runs ``meanwhile`` once, just before the first write of ``trigger``, after its caller read the
    ticket: another request that lands between a read and the write made from it."""
    from payments.repositories.tickets import TicketRepository

    original = TicketRepository.apply
    ran: list[bool] = []

    def apply(self: Any, ticket: Any, how: Any, *args: Any, **kwargs: Any) -> Any:
        if str(how) == trigger and not ran:
            ran.append(True)
            meanwhile()
        return original(self, ticket, how, *args, **kwargs)

    monkeypatch.setattr(TicketRepository, "apply", apply)
    return ran


def test_stale_staff_refund_after_the_ticket_moved_to_another_shard_gives_back_the_right_shard(
    world: tuple[StripeFake, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ABA of 47174eb over moto and the handlers: staff read the ticket paid on shard s; before
    their write, a Dashboard refund refunds it (seat back to s), the refund fails (paid again, on
    shard t). The staff write must not give the seat back to s."""
    fake, client = world
    event_id = create_event(price=25, capacity=4, seat_shards=2)
    ticket_id, _, intent = paid_ticket(fake, event_id, 1)
    shard = int(next(iter(ticket_item(client, ticket_id)["seat_parts"])))
    deliveries = Deliveries(fake)
    dashboard = fake.dashboard_refund(intent)
    held = deliveries.new()

    def meanwhile() -> None:
        deliveries.deliver(held)
        assert ticket_item(client, ticket_id)["status"] == "refunded"
        fake.fail_refund(dashboard["id"])
        import secrets

        from payments.repositories import tickets as repository

        _into_shard(monkeypatch, 1 - shard)
        deliveries.deliver(deliveries.new())
        monkeypatch.setattr(repository, "secrets", secrets)
        moved = ticket_item(client, ticket_id)
        assert moved["status"] == "paid" and set(moved["seat_parts"]) == {str(1 - shard)}

    ran = interleave(monkeypatch, "refund_due", meanwhile)
    refunded = staff("refund_ticket", {"ticket_id": ticket_id})
    assert ran and refunded.status == 200, refunded.body
    deliveries.deliver(deliveries.new())
    assert shard_seats(client, event_id) == {0: 2, 1: 2}
    assert_seats_conserved(client, event_id)
    assert_money_adds_up(fake, client, event_id)


def test_door_admits_between_the_refund_read_and_its_write(world: tuple[StripeFake, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Staff refund a ticket of 3 read with nobody in; the door admits 2 before the write: only the
    third seat goes back on sale, the two people in keep theirs."""
    fake, client = world
    event_id = create_event(price=25, capacity=5)
    ticket_id, _, _ = paid_ticket(fake, event_id, 3)
    ran = interleave(monkeypatch, "refund_due", lambda: check_in(client, ticket_id, event_id, 2))
    refunded = staff("refund_ticket", {"ticket_id": ticket_id})
    assert ran and refunded.status == 200, refunded.body
    assert shard_seats(client, event_id) == {0: 3}
    assert_seats_conserved(client, event_id)
    assert_money_adds_up(fake, client, event_id)


def test_partial_refund_lands_between_the_payment_read_and_its_write(
    world: tuple[StripeFake, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The payment webhook reads the reservation (nothing back yet); a partial refund and a lost
    dispute of the rest reach the ticket before its write: the ticket ends refunded, never paid."""
    fake, client = world
    event_id = create_event(price=25, capacity=5)
    bought = buy(event_id, 1)
    deliveries = Deliveries(fake)
    completed = pay(fake, bought.body["session_id"])
    deliveries.new()
    intent = str(fake.sessions[bought.body["session_id"]]["payment_intent"])

    def meanwhile() -> None:
        fake.dashboard_refund(intent, 1000)
        dispute = fake.open_dispute(intent)
        fake.close_dispute(dispute["id"], won=False)
        deliveries.deliver(deliveries.new())

    ran = interleave(monkeypatch, "paid", meanwhile)
    deliveries.deliver([completed])
    assert ran
    assert ticket_item(client, bought.body["ticket_id"])["status"] == "refunded"
    assert_seats_conserved(client, event_id)
    assert_money_adds_up(fake, client, event_id)


def test_sales_never_show_more_back_than_taken_when_a_refund_overtakes_its_payment(world: tuple[StripeFake, Any]) -> None:
    fake, client = world
    event_id = create_event(price=25, capacity=5)
    bought = buy(event_id, 1)
    deliveries = Deliveries(fake)
    pay(fake, bought.body["session_id"])
    deliveries.new()  # the payment's webhook is late
    fake.dashboard_refund(str(fake.sessions[bought.body["session_id"]]["payment_intent"]), 1000)
    deliveries.deliver(deliveries.new())
    view = sales(event_id)
    records = scan(client, PAYMENTS)
    taken = sum(int(r["amount"]) for r in records if r.get("kind") == "ticket_checkout")
    back = sum(int(r["amount"]) for r in records if r.get("kind") == "ticket_refund" and r["status"] in RETURNED)
    assert Decimal(str(view["refunded_amount"])) <= Decimal(str(view["gross"])), view
    assert back <= taken, records


# 4. the hot-key migration ------------------------------------------------------------------------
def to_legacy(client: Any, event_id: int, extra: dict[str, Any] | None = None) -> None:
    """The event's shard items 1.. put back where the code before the change kept them (pk
    ``EVENT#<id>``, sk ``SEATS#<n>``), with ``extra`` attributes; its unsettled tickets' index entries
    bare, as that code wrote them."""
    for item in client.scan(TableName=TICKETS, ConsistentRead=True)["Items"]:
        pk, sk = item["pk"]["S"], item["sk"]["S"]
        if pk.startswith(f"EVENT#{event_id}#SEATS#"):
            client.delete_item(TableName=TICKETS, Key={"pk": item["pk"], "sk": item["sk"]})
            client.put_item(TableName=TICKETS, Item={**item, **(extra or {}), "pk": {"S": f"EVENT#{event_id}"}})
        elif sk == "TICKET" and "unsettled_status" in item and int(item["event_id"]["N"]) == event_id:
            bare = item["unsettled_status"]["S"].split("#")[0]
            client.update_item(
                TableName=TICKETS,
                Key={"pk": item["pk"], "sk": item["sk"]},
                UpdateExpression="SET unsettled_status = :bare",
                ExpressionAttributeValues={":bare": {"S": bare}},
            )


def legacy_event(fake: StripeFake, client: Any) -> int:
    """A three-shard event with paid and reserved tickets, written as the code before the change did."""
    event_id = create_event(price=25, capacity=30, seat_shards=3)
    paid_ticket(fake, event_id, 4)
    paid_ticket(fake, event_id, 3, user="user-bob")
    for user in ("user-carol", "user-dave"):
        assert buy(event_id, 2, user=user).status == 200
    return event_id


def assert_migrated(client: Any, event_id: int, taken: int = 11) -> None:
    items = scan(client, TICKETS)
    assert not [i for i in items if i["pk"] == f"EVENT#{event_id}" and str(i["sk"]).startswith("SEATS#")], "legacy shards left"
    assert not [i for i in items if i["sk"] == "TICKET" and i.get("unsettled_status") in ("reserved", "processing", "refunding")]
    assert_seats_conserved(client, event_id)
    assert sum(shard_seats(client, event_id).values()) == 30 - taken


@contextmanager
def old_code(monkeypatch: pytest.MonkeyPatch, shard: int = 0) -> Iterator[None]:
    """An old container: the repository with the keys of the code before the change (seat shards
    under the event's partition key, bare index entries), purchases looking at ``shard`` first."""
    from payments.repositories import tickets as repository

    with monkeypatch.context() as old:
        old.setattr(
            repository, "_shard_key", lambda event, n: {"pk": {"S": f"EVENT#{event}"}, "sk": {"S": "EVENT" if n == 0 else f"SEATS#{n}"}}
        )
        old.setattr(repository, "_unsettled_key", lambda status, ticket_id: str(status))
        old.setattr(repository, "secrets", type("Drawn", (), {"randbelow": staticmethod(lambda n: shard % n)}))
        yield


def old_code_buys(fake: StripeFake, monkeypatch: pytest.MonkeyPatch, event_id: int, shard: int) -> None:
    """An old container sells 2 seats on ``shard`` at its legacy key, with a bare index entry."""
    with old_code(monkeypatch, shard):
        bought = buy(event_id, 2, user="user-frank")
        assert bought.status == 200, bought.body


def test_two_migrations_interleaved_item_by_item_lose_and_double_nothing(
    world: tuple[StripeFake, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run A scans the legacy items, run B migrates everything, then A works through what it read
    (and an old container sells a seat on a legacy shard in between): every shard at one key with
    its seats, no entry bare, and a third run writes nothing."""
    from migrations.hot_keys import HotKeyMigration, migrate

    fake, client = world
    event_id = legacy_event(fake, client)
    to_legacy(client, event_id)
    first = HotKeyMigration(client, TICKETS, kinds=("seats", "index"))
    read = list(first._legacy_items())
    assert len(read) == 2 + 2  # two legacy shards, two bare entries
    old_code_buys(fake, monkeypatch, event_id, 1)
    frank = next(t for t in tickets_of(client, event_id) if t["owner"] == "user-frank")
    # On a legacy shard (SEATS#1, or SEATS#2 when the earlier purchases, placed at random, left
    # shard 1 fewer than two seats): one the first run read at its legacy key.
    assert set(frank["seat_parts"]) <= {"1", "2"} and sum(frank["seat_parts"].values()) == 2
    assert frank["unsettled_status"] == "reserved"
    assert migrate(client, TICKETS).writes > 0
    for item in read:
        (first._move_shard if str(item["sk"]["S"]).startswith("SEATS#") else first._rekey)(item)
    assert first.report.writes == 0
    assert_migrated(client, event_id, taken=13)
    again = migrate(client, TICKETS)
    assert (again.writes, again.conflicts) == (0, [])
    # The old container's reservation is released by the new code, its seats back at the new key.
    assert cancel(int(frank["ticket_id"]), user="user-frank").status == 200
    assert_migrated(client, event_id, taken=11)


def test_a_shard_another_run_moved_is_not_reported_as_a_conflict(world: tuple[StripeFake, Any]) -> None:
    from migrations.hot_keys import HotKeyMigration, migrate

    fake, client = world
    event_id = legacy_event(fake, client)
    to_legacy(client, event_id)
    first = HotKeyMigration(client, TICKETS, kinds=("seats",))
    read = list(first._legacy_items())
    migrate(client, TICKETS)
    for item in read:
        first._move_shard(item)
    assert_migrated(client, event_id)
    assert first.report.conflicts == []


def test_legacy_shard_with_unexpected_attributes_moves_whole(world: tuple[StripeFake, Any]) -> None:
    """A legacy shard item carrying attributes of every DynamoDB type (a map, a list, a set, a bool, a
    null, binary, a name with a dot and one with a reserved word) moves in one piece, its seats
    intact, and the event is sold from it after."""
    from migrations.hot_keys import migrate

    fake, client = world
    event_id = legacy_event(fake, client)
    extra = {
        "note": {"M": {"by": {"S": "ops"}, "n": {"N": "1"}}},
        "history": {"L": [{"N": "1"}, {"S": "x"}]},
        "tags": {"SS": ["a", "b"]},
        "flag": {"BOOL": True},
        "gone": {"NULL": True},
        "blob": {"B": b"\x00\x01"},
        "a.b": {"S": "dotted"},
        "size": {"N": "3"},
    }
    to_legacy(client, event_id, extra)
    report = migrate(client, TICKETS)
    assert report.conflicts == [] and report.seat_shards_moved == 2
    assert_migrated(client, event_id)
    moved = client.get_item(TableName=TICKETS, Key={"pk": {"S": f"EVENT#{event_id}#SEATS#1"}, "sk": {"S": "SEATS#1"}})["Item"]
    assert {name: moved[name] for name in extra} == extra
    ticket_id, _, _ = paid_ticket(fake, event_id, 5, user="user-erin")
    assert ticket_item(client, ticket_id)["status"] == "paid"
    assert_seats_conserved(client, event_id)


# 5. Stripe's refusal replayed under our idempotency key -------------------------------------------
def test_second_staff_refund_of_a_disputed_ticket_with_another_reason(world: tuple[StripeFake, Any]) -> None:
    fake, client = world
    event_id = create_event(price=25, capacity=5)
    ticket_id, _, intent = paid_ticket(fake, event_id, 2)
    fake.open_dispute(intent)
    first = staff("refund_ticket", {"ticket_id": ticket_id})
    assert first.status == 400 and "disputed" in first.body["error"], first.body
    assert ticket_item(client, ticket_id)["status"] == "paid"
    second = staff("refund_ticket", {"ticket_id": ticket_id, "reason": "customer wrote again"})
    assert_seats_conserved(client, event_id)
    assert second.status == 400, second.body
    assert ticket_item(client, ticket_id)["status"] == "paid", second.body
    assert "disputed" in second.body["error"], second.body


def test_stripe_idempotency_error_on_a_refund_is_a_clear_409(world: tuple[StripeFake, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Should Stripe still answer idempotency_error to a refund (here: the key scheme from before,
    one key per ticket, so the second reason collides), staff get a 409 that names no header they
    never sent, nothing is refunded, and the ticket stays refunding (the refund is owed; the
    reconciliation retries it) with its seats counted."""
    from payments.domain import tickets as domain

    monkeypatch.setattr(domain, "_refund_key", lambda ticket_id, *_: f"ticket-refund-{ticket_id}")
    fake, client = world
    event_id = create_event(price=25, capacity=5)
    ticket_id, _, intent = paid_ticket(fake, event_id, 2)
    fake.open_dispute(intent)
    assert staff("refund_ticket", {"ticket_id": ticket_id}).status == 400
    second = staff("refund_ticket", {"ticket_id": ticket_id, "reason": "customer wrote again"})
    assert second.status == 409, second.body
    assert "Idempotency-Key" not in second.body["error"] and "refund" in second.body["error"], second.body
    assert ticket_item(client, ticket_id)["status"] == "refunding"
    assert not [r for r in fake.refunds.values() if r["payment_intent"] == intent]
    assert_seats_conserved(client, event_id)


def test_refused_refund_reseats_a_ticket_on_another_shard_and_the_sales_recount(
    world: tuple[StripeFake, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three shards of 3: Alice's 3 seats on one; her refund's first call fails (refunding, seats back
    on sale), Bob buys that shard out, Stripe then refuses (disputed): Alice is paid again on another
    shard, no shard over or under, and the sales view is the recount."""
    fake, client = world
    event_id = create_event(price=25, capacity=9, seat_shards=3)
    ticket_id, _, intent = paid_ticket(fake, event_id, 3)
    shard = int(next(iter(ticket_item(client, ticket_id)["seat_parts"])))
    fake.open_dispute(intent)
    fake.fail_next("/v1/refunds", status=500, type_="api_error", message="An unknown error occurred", code=None)
    assert staff("refund_ticket", {"ticket_id": ticket_id}).status >= 500
    _fill(fake, event_id, shard, monkeypatch)
    refused = staff("refund_ticket", {"ticket_id": ticket_id})
    assert refused.status == 400 and "disputed" in refused.body["error"], refused.body
    after = ticket_item(client, ticket_id)
    assert after["status"] == "paid" and shard not in {int(s) for s in after["seat_parts"]}
    assert_seats_conserved(client, event_id)
    assert_money_adds_up(fake, client, event_id)
    view = sales(event_id)
    assert (view["sold"], view["held"], view["available"], view["refunded"]) == (6, 0, 3, 0)


def test_two_staff_refunds_interleaved_make_one_refund(world: tuple[StripeFake, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Staff A reads the ticket paid; staff B refunds it in full before A writes; then, before A's
    last write, the payment's webhook is delivered again: one refund at Stripe, both answered with
    it, the records and the sales view the recount."""
    fake, client = world
    event_id = create_event(price=25, capacity=5)
    bought = buy(event_id, 2)
    completed = pay(fake, bought.body["session_id"])
    deliver_webhook(completed)
    ticket_id = int(bought.body["ticket_id"])
    answers: list[Any] = []
    interleave(monkeypatch, "refund_due", lambda: answers.append(staff("refund_ticket", {"ticket_id": ticket_id})))
    first = staff("refund_ticket", {"ticket_id": ticket_id})
    assert [a.status for a in answers] == [200] and first.status == 200, (answers[0].body, first.body)
    assert first.body["refund_id"] == answers[0].body["refund_id"]
    assert deliver_webhook(completed).status == 200
    assert len(fake.refunds) == 1
    assert_seats_conserved(client, event_id)
    assert_money_adds_up(fake, client, event_id)


def test_reconciliation_finishes_the_same_refund_during_a_staff_refund(
    world: tuple[StripeFake, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staff refund in flight (refunding, its refund made at Stripe); before its last write the
    reconciliation's step settles the refunding ticket (the same refund, same key): one refund, the
    ticket refunded once, both writers agreeing, nothing recorded twice."""
    from payments import wiring

    fake, client = world
    event_id = create_event(price=25, capacity=5)
    ticket_id, _, _ = paid_ticket(fake, event_id, 2)
    deliveries = Deliveries(fake)

    def meanwhile() -> None:
        ticket = wiring.ticket_repository().get_ticket(ticket_id)
        assert ticket is not None and str(ticket.status) == "refunding"
        assert str(wiring.ticket_service().settle_open_ticket(ticket)) == "refunded"

    ran = interleave(monkeypatch, "refunded", meanwhile)
    refunded = staff("refund_ticket", {"ticket_id": ticket_id})
    assert ran and refunded.status == 200, refunded.body
    deliveries.deliver(deliveries.new())
    assert len(fake.refunds) == 1 and refunded.body["refund_id"] in fake.refunds
    assert_seats_conserved(client, event_id)
    assert_money_adds_up(fake, client, event_id)


# 6. one money write carries every refund's record --------------------------------------------------
def test_a_payment_with_a_hundred_partial_refunds_is_still_recorded(world: tuple[StripeFake, Any]) -> None:
    fake, client = world
    event_id = create_event(price=25, capacity=5)
    ticket_id, _, intent = paid_ticket(fake, event_id, 1)
    deliveries = Deliveries(fake)
    for _ in range(100):
        fake.dashboard_refund(intent, 1)
    last = [event for event in deliveries.new() if event["type"] == "charge.refunded"][-1]
    result = deliver_webhook(last)
    assert result.status == 200, result.body
    assert ticket_item(client, ticket_id)["refund_amount"] == 100
    assert_money_adds_up(fake, client, event_id)


def test_dispute_lost_between_stripes_refusal_and_the_refused_write(world: tuple[StripeFake, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Staff refund a disputed ticket; Stripe refuses; before the ticket is written paid again the
    dispute is lost and its webhook lands: the ticket ends refunded (never paid with all its money
    back), one dispute record, the seats back once; staff told to retry, and the retry answers the
    dispute that completed it."""
    fake, client = world
    event_id = create_event(price=25, capacity=5)
    ticket_id, _, intent = paid_ticket(fake, event_id, 2)
    dispute = fake.open_dispute(intent)
    deliveries = Deliveries(fake)

    def meanwhile() -> None:
        fake.close_dispute(dispute["id"], won=False)
        deliveries.deliver(deliveries.new())

    ran = interleave(monkeypatch, "refund_refused", meanwhile)
    first = staff("refund_ticket", {"ticket_id": ticket_id})
    assert ran and (first.status, first.body) == (409, {"error": "Ticket changed during refund; retry"})
    assert ticket_item(client, ticket_id)["status"] == "refunded"
    again = staff("refund_ticket", {"ticket_id": ticket_id})
    assert again.status == 200 and again.body["refund_id"] == dispute["id"], again.body
    assert not fake.refunds
    assert_seats_conserved(client, event_id)
    assert_money_adds_up(fake, client, event_id)


def test_old_code_gives_seats_back_between_the_scan_and_the_move(world: tuple[StripeFake, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """An old container's reservation on a legacy shard is cancelled (by the old code, 2 seats back at
    the legacy key, its bare entry removed) after the migration read the shard and the entry: the
    shard moves with those 2 seats, the entry is left to the code that settled it."""
    from migrations.hot_keys import HotKeyMigration, migrate

    fake, client = world
    event_id = legacy_event(fake, client)
    to_legacy(client, event_id)
    old_code_buys(fake, monkeypatch, event_id, 2)
    frank = next(t for t in tickets_of(client, event_id) if t["owner"] == "user-frank")
    run = HotKeyMigration(client, TICKETS)
    read = list(run._legacy_items())
    with old_code(monkeypatch):
        assert cancel(int(frank["ticket_id"]), user="user-frank").status == 200
    for item in read:
        (run._move_shard if str(item["sk"]["S"]).startswith("SEATS#") else run._rekey)(item)
    assert run.report.conflicts == [] and run.report.seat_shards_moved == 2
    assert run.report.index_entries_moved_on == 1
    assert_migrated(client, event_id, taken=11)
    assert migrate(client, TICKETS).writes == 0


# 7. a small random walk over the handlers, on a sharded event nearly sold out ---------------------
@pytest.mark.parametrize("seed", range(8))
def test_random_walk_of_payments_refunds_disputes_and_the_door(world: tuple[StripeFake, Any], seed: int) -> None:
    """Purchases, payments (their webhooks held and delivered in a drawn order), Dashboard partial
    refunds, staff refunds, disputes won and lost, refunds failing, the door and cancels, drawn from a
    seed on an event of two shards of 5: no answer is a 500, seats are conserved shard by shard after
    every step, and once every webhook is in, money adds up per payment and the sales view is the recount."""
    import random

    fake, client = world
    draw = random.Random(seed)
    event_id = create_event(price=10, capacity=10, seat_shards=2)
    deliveries = Deliveries(fake)
    pending: list[dict[str, Any]] = []
    users = ["user-alice", "user-bob", "user-carol", "user-dave"]

    def paid_intents() -> list[str]:
        return sorted(i["id"] for i in fake.payment_intents.values() if i["status"] == "succeeded")

    def step() -> None:
        tickets = tickets_of(client, event_id)
        action = draw.choice(["buy", "buy", "deliver", "deliver", "partial", "staff", "dispute", "close", "fail", "door", "cancel"])
        if action == "buy":
            bought = buy(event_id, draw.randint(1, 3), user=draw.choice(users))
            assert bought.status in (200, 400), bought.body
            if bought.status == 200 and draw.random() < 0.8:
                pay(fake, bought.body["session_id"])
        elif action == "deliver" and pending:
            event = pending.pop(draw.randrange(len(pending)))
            result = deliver_webhook(event)
            assert result.status < 500, (event["type"], result.body)
            if result.status != 200:
                pending.append(event)  # Stripe retries
        elif action == "partial" and paid_intents():
            intent = draw.choice(paid_intents())
            left = fake.payment_intents[intent]["amount_received"] - stripe_returned(fake, intent)
            if left > 1 and not any(d["payment_intent"] == intent for d in fake.disputes.values()):
                fake.dashboard_refund(intent, draw.randint(1, left - 1))
        elif action == "staff" and tickets:
            result = staff("refund_ticket", {"ticket_id": int(draw.choice(tickets)["ticket_id"])})
            assert result.status < 500 or result.status in (502, 503), result.body
        elif action == "dispute" and paid_intents():
            intent = draw.choice(paid_intents())
            left = fake.payment_intents[intent]["amount_received"] - stripe_returned(fake, intent)
            if left > 0 and not any(d["payment_intent"] == intent for d in fake.disputes.values()):
                fake.open_dispute(intent)
        elif action == "close":
            open_ = [d for d in fake.disputes.values() if d["status"] not in ("won", "lost")]
            if open_:
                fake.close_dispute(draw.choice(open_)["id"], won=draw.random() < 0.5)
        elif action == "fail":
            made = [r for r in fake.refunds.values() if r["status"] == "succeeded"]
            if made:
                fake.fail_refund(draw.choice(made)["id"])
        elif action == "door":
            paid = [t for t in tickets if t["status"] == "paid" and int(t.get("checked_in", 0)) < int(t["quantity"])]
            if paid:
                ticket = draw.choice(paid)
                result = staff("check_in_ticket", {"ticket_code": ticket["ticket_code"], "event_id": event_id, "count": 1})
                assert result.status in (200, 400, 409), result.body
        elif action == "cancel":
            reserved = [t for t in tickets if t["status"] == "reserved"]
            if reserved:
                ticket = draw.choice(reserved)
                assert cancel(int(ticket["ticket_id"]), user=ticket["owner"]).status in (200, 400)
        pending.extend(deliveries.new())

    for _ in range(40):
        step()
        assert_seats_conserved(client, event_id)
    draw.shuffle(pending)
    for event in pending:
        assert deliver_webhook(event).status < 500, event["type"]
    pending.clear()
    deliveries.deliver(deliveries.new())
    assert_seats_conserved(client, event_id)
    assert_money_adds_up(fake, client, event_id)
