"""The strongest drift guard: hypothesis draws sequences of store operations (purchases, every
life-cycle trigger from fresh and stale reads, money back, admissions, session binds; PayPal
reservations, refunds and releases; provider states out of order) and replays each sequence on the
in-memory twins and on the DynamoDB repositories over moto, step by step. After every step both must
have answered the same (the same value, or the same exception with the same facts) and must show the
same state through every read the ports have: each ticket, each event's seats by shard, the owners'
counters, the unsettled index, each owner's pages, the sales view, the payment links and the records."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payments.domain.lifecycle import TRANSITIONS, UNSETTLED, Event, Ticket, TicketStatus, Trigger
from payments.domain.paypal_objects import capture_state
from payments.domain.paypal_refunds import PayPalRefund
from payments.domain.ports import CAPTURE
from payments.domain.records import RefundRecord
from tests.support.store_worlds import MemoryWorld, StoreWorld, moto_world

NOW = 1_700_000_000
OWNERS = ("user-alice", "user-bob")
# (capacity, shards, price): one shard, three shards, and a free event.
EVENTS = ((6, 1, "25.00"), (7, 3, "25.00"), (5, 1, "0"))
EXPIRIES = (NOW + 50, NOW + 100, NOW + 150)
# Modest, so that the file stays well under a minute on a loaded 2-core machine (a ticket example
# is ~30 steps of a dozen reads each on both worlds).
FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TICKETS_FAST = settings(FAST, max_examples=20)


def outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """A step's answer, comparable across the worlds: the value, or the exception and its facts."""
    try:
        return "ok", call()
    except Exception as error:
        return "raised", (type(error).__name__, getattr(error, "held", None), getattr(error, "remaining_minor", None))


class Replay:
    """One world and what its callers have read so far (every ticket as read, for stale writes)."""

    def __init__(self, world: StoreWorld) -> None:
        self.world = world
        self.events: list[Event] = []
        self.reads: dict[int, list[Ticket]] = {}
        self.records: set[tuple[str, str]] = set()
        self.intents: set[str] = set()
        for capacity, shards, price in EVENTS:
            event_id = world.tickets.next_id("event")
            world.tickets.put_event(Event(event_id, f"E{event_id}", Decimal(price), "eur", capacity, capacity, "staff", NOW, shards))
            found = world.tickets.get_event(event_id)
            assert found is not None
            self.events.append(found)

    def seen(self, ticket: Any) -> Any:
        if isinstance(ticket, Ticket):
            self.reads.setdefault(ticket.ticket_id, []).append(ticket)
        return ticket

    def read(self, pick: int, age: int) -> Ticket | None:
        """A ticket as read some reads ago (0: the latest), or None when none was made yet."""
        if not self.reads:
            return None
        reads = self.reads[sorted(self.reads)[pick % len(self.reads)]]
        return reads[-1 - age % len(reads)]

    # the operations ------------------------------------------------------------------------------
    def create(self, event: int, owner: int, quantity: int, created: int, expires: int, unpaid: int, free_limit: int, stale: bool) -> Any:
        chosen = self.events[event]
        known = chosen if stale else self.world.tickets.get_event(chosen.event_id)
        assert known is not None
        free = chosen.price == 0
        ticket_id = self.world.tickets.next_id("ticket")
        ticket = Ticket(
            ticket_id=ticket_id,
            event_id=chosen.event_id,
            owner=OWNERS[owner],
            quantity=quantity,
            status=TicketStatus.PAID if free else TicketStatus.RESERVED,
            ticket_code=f"code-{ticket_id}",
            currency="eur",
            unit_amount=0 if free else 2500,
            created_at=NOW + created,
            expires_at=None if free else EXPIRIES[expires],
        )
        return outcome(lambda: self.seen(self.world.tickets.create(ticket, unpaid, known.seats_by_shard, free_limit=free_limit)))

    def apply(self, pick: int, age: int, which: int, variant: int, money_as_read: bool, cutoff: bool, clear: bool) -> Any:
        ticket = self.read(pick, age)
        if ticket is None:
            return None
        rows = [row for (source, _), row in TRANSITIONS.items() if source == ticket.status]
        trigger = rows[which % len(rows)].trigger if rows and which % 5 else list(Trigger)[which % len(Trigger)]
        changes: dict[str, Any] = {}
        if trigger == Trigger.PAID:
            changes = {"session_id": f"cs_{ticket.ticket_id}" if variant % 3 else "cs_other", "payment_intent": f"pi_{ticket.ticket_id}"}
            self.intents.add(f"pi_{ticket.ticket_id}")
        elif trigger in (Trigger.REFUNDED, Trigger.REFUND_DUE, Trigger.REFUND_FAILED):
            changes = {"refund_amount": (variant % 3) * 1000 or None, "refund_id": f"re_{variant}", "refunded_at": NOW + variant}
        record = self.refund(ticket, variant % 2, variant * 100, "succeeded")
        return outcome(
            lambda: self.seen(
                self.world.tickets.apply(
                    ticket,
                    trigger,
                    changes,
                    [record],
                    expired_before=NOW + 100 if cutoff else None,
                    removed=("refund_id", "refunded_at") if clear else (),
                    money_as_read=money_as_read,
                )
            )
        )

    def money_back(self, pick: int, age: int, amount: int, seen: int) -> Any:
        ticket = self.read(pick, age)
        if ticket is None:
            return None
        record = self.refund(ticket, amount % 2, amount, "failed" if seen % 2 else "succeeded")
        changes = {"refunds_seen": ("a", "b", None)[seen % 3]}
        return outcome(lambda: self.seen(self.world.tickets.record_money_back(ticket, amount, [record], changes)))

    def refund(self, ticket: Ticket, number: int, amount: int, status: str) -> RefundRecord:
        """A refund record of the ticket's (one of two per ticket, so that one is rewritten), noted to compare."""
        refund_id = f"re_{ticket.ticket_id}_{number}"
        self.records.add((f"REFUND#stripe#{refund_id}", "REFUND"))
        return RefundRecord(refund_id, ticket.ticket_id, ticket.owner, None, None, amount, "eur", "staff", status, NOW)

    def check_in(self, pick: int, age: int, count: int, other_event: bool) -> Any:
        ticket = self.read(pick, age)
        if ticket is None:
            return None
        event_id = self.events[(ticket.event_id) % len(self.events)].event_id if other_event else ticket.event_id
        return outcome(lambda: self.seen(self.world.tickets.check_in(ticket, count, NOW + count, event_id=event_id)))

    def owe_seats(self, pick: int, age: int, quantity: int) -> Any:
        ticket = self.read(pick, age)
        if ticket is None:
            return None
        key = f"seats-{ticket.ticket_id}-{ticket.refunded_quantity}-{quantity}"
        return outcome(lambda: self.seen(self.world.tickets.owe_seat_refund(ticket, key, quantity, 2500 * quantity, "staff")))

    def refund_seats(self, pick: int, age: int, back: int, amount: int) -> Any:
        """The seat refund owed on a ticket as read (a stale read, or none owed, refused alike), giving
        back up to ``back`` of the seats of people not admitted, from its highest shard."""
        ticket = self.read(pick, age)
        if ticket is None or ticket.seat_refund_key is None:
            return None
        returned: dict[int, int] = {}
        for shard, count in sorted(ticket.unadmitted_parts.items(), reverse=True):
            if sum(returned.values()) < back:
                returned[shard] = min(count, back - sum(returned.values()))
        record = self.refund(ticket, amount % 2, amount, "succeeded")
        return outcome(lambda: self.seen(self.world.tickets.refund_seats(ticket, returned, amount, f"seen-{amount}", [record])))

    def drop_seats(self, pick: int, age: int) -> Any:
        ticket = self.read(pick, age)
        if ticket is None:
            return None
        return outcome(lambda: self.seen(self.world.tickets.drop_seat_refund(ticket)))

    def attach(self, pick: int, session: int) -> Any:
        ticket = self.read(pick, 0)
        if ticket is None:
            return None
        return outcome(lambda: self.world.tickets.attach_session(ticket.ticket_id, f"cs_{ticket.ticket_id + session}", f"url-{session}"))

    # what every read shows ---------------------------------------------------------------------------
    def observe(self) -> dict[str, Any]:
        tickets = self.world.tickets
        pages: dict[str, list[Any]] = {}
        for owner in OWNERS:
            pages[owner], after = [], None
            while True:
                page, cursor = tickets.tickets_of(owner, 2, after)
                pages[owner].append(page)
                if cursor is None:
                    break
                after = tickets.get_ticket(cursor)
        listed: list[Any] = []
        page_events, after_event = tickets.list_events(2)
        listed.append(page_events)
        while after_event is not None:
            page_events, after_event = tickets.list_events(2, after_event)
            listed.append(page_events)
        return {
            "tickets": {ticket_id: tickets.get_ticket(ticket_id) for ticket_id in sorted(self.reads)},
            "events": [tickets.get_event(event.event_id) for event in self.events],
            "listed": listed,
            "counters": [
                (self.world.inspect.unpaid(event.event_id, owner), self.world.inspect.free(event.event_id, owner))
                for event in self.events
                for owner in OWNERS
            ],
            "unsettled": [
                [ticket.ticket_id for ticket in tickets.unsettled(status, cutoff, limit)]
                for status in sorted(UNSETTLED)
                for cutoff, limit in ((None, 100), (NOW + 100, 100), (None, 2))
            ],
            "pages": pages,
            "lines": [list(tickets.ticket_lines(event)) for event in self.events],
            "codes": {ticket_id: tickets.ticket_by_code(f"code-{ticket_id}") for ticket_id in sorted(self.reads)},
            "intents": {intent: tickets.ticket_for_payment_intent(intent) for intent in sorted(self.intents)},
            "records": {key: self.world.inspect.record(*key) for key in sorted(self.records)},
        }


small = st.integers(min_value=0, max_value=50)
TICKET_STEPS = st.one_of(
    st.tuples(
        st.just("create"),
        st.integers(0, 2),
        st.integers(0, 1),
        st.integers(1, 4),
        st.integers(0, 3),
        st.integers(0, 2),
        st.integers(0, 6),
        st.integers(0, 6),
        st.booleans(),
    ),
    st.tuples(st.just("apply"), small, small, small, small, st.booleans(), st.booleans(), st.booleans()),
    st.tuples(st.just("apply"), small, st.just(0), small, small, st.just(False), st.just(False), st.just(False)),
    st.tuples(st.just("money_back"), small, small, st.integers(0, 6000), small),
    st.tuples(st.just("check_in"), small, small, st.integers(1, 3), st.booleans()),
    st.tuples(st.just("attach"), small, st.integers(0, 1)),
    st.tuples(st.just("owe_seats"), small, small, st.integers(1, 2)),
    st.tuples(st.just("refund_seats"), small, small, st.integers(0, 2), st.integers(0, 6000)),
    st.tuples(st.just("drop_seats"), small, small),
)


@TICKETS_FAST
@given(steps=st.lists(TICKET_STEPS, min_size=12, max_size=40))
def test_the_ticket_store_twins_answer_and_show_the_same_at_every_step(steps: list[tuple[Any, ...]]) -> None:
    with mock.patch.object(secrets, "randbelow", lambda shards: 0), moto_world() as dynamo:
        memory, moto = Replay(MemoryWorld()), Replay(dynamo)
        assert memory.observe() == moto.observe()
        for number, (name, *arguments) in enumerate(steps):
            expected = getattr(memory, name)(*arguments)
            found = getattr(moto, name)(*arguments)
            assert expected == found, f"step {number} {name}{tuple(arguments)}: memory {expected}, moto {found}"
            assert memory.observe() == moto.observe(), f"after step {number} {name}{tuple(arguments)}"


# PayPal refunds and provider objects -------------------------------------------------------------
RESERVE = st.tuples(st.just("reserve"), st.integers(0, 3), st.integers(0, 1), st.one_of(st.none(), st.integers(-1, 1200)), small)
RECORD = st.tuples(st.just("record"), st.integers(0, 5), st.integers(0, 1), st.integers(1, 1200), st.one_of(st.none(), st.integers(0, 3)))
# Money moves most often (each listed twice): reservations and refunds.
PAYPAL_STEPS = st.one_of(
    RESERVE,
    RECORD,
    RESERVE,
    RECORD,
    st.tuples(st.just("release"), st.integers(0, 3)),
    st.tuples(st.just("settle"), st.integers(0, 1), small),
    st.tuples(st.just("request"), st.integers(0, 1), st.integers(0, 200)),
    st.tuples(
        st.just("state"), st.integers(0, 1), st.sampled_from(["COMPLETED", "PENDING", "REFUNDED"]), st.integers(0, 5), st.integers(0, 4)
    ),
    st.tuples(st.just("raise_to"), st.integers(0, 1), st.integers(0, 10)),
)


class PayPalReplay:
    def __init__(self, world: StoreWorld) -> None:
        self.world = world
        self.reserved: dict[int, Any] = {}
        for number, value in enumerate(("10.00", "7.50")):
            capture = {"id": f"cap_{number}", "status": "COMPLETED", "amount": {"currency_code": "EUR", "value": value}}
            world.paypal_objects.record(CAPTURE, f"cap_{number}", "user-alice", capture_state(capture, f"order_{number}"), NOW)

    def reserve(self, slot: int, capture: int, amount: int | None, at: int) -> Any:
        answer = outcome(lambda: self.world.paypal_refunds.reserve(f"res-{slot}", f"cap_{capture}", amount, "staff", NOW + at))
        if answer[0] == "ok":
            self.reserved[slot] = answer[1]
        return answer

    def release(self, slot: int) -> Any:
        reservation = self.reserved.get(slot)
        return None if reservation is None else outcome(lambda: self.world.paypal_refunds.release(reservation, "REFUSED"))

    def record(self, refund: int, capture: int, amount: int, slot: int | None) -> Any:
        made = PayPalRefund(
            f"r_{refund}",
            f"cap_{capture}",
            amount,
            f"{amount / 100:.2f}",
            "EUR",
            "COMPLETED",
            custom_id=None if slot is None else f"res-{slot}",
        )
        return outcome(lambda: self.world.paypal_refunds.record(made, "user-alice", NOW))

    def settle(self, capture: int, at: int) -> Any:
        return outcome(lambda: self.world.paypal_refunds.settle_status(f"cap_{capture}", NOW + at))

    def request(self, fingerprint: int, at: int) -> Any:
        # The ids differ by construction (uuid4 against a counter): whether a new one was drawn is compared.
        answer = outcome(lambda: self.world.paypal_refunds.reservation_for_request(f"fp-{fingerprint}", 60, NOW + at))
        return answer[0], answer[1] in {reservation.reservation_id for reservation in self.reserved.values()}

    def state(self, capture: int, status: str, as_of: int, rank: int) -> Any:
        return outcome(lambda: self.world.paypal_objects.apply_state(CAPTURE, f"cap_{capture}", {"status": status}, NOW + as_of, rank))

    def raise_to(self, capture: int, value: int) -> Any:
        return outcome(lambda: self.world.paypal_objects.raise_to(CAPTURE, f"cap_{capture}", "seen_minor", value))

    def observe(self) -> Any:
        refunds = self.world.paypal_refunds
        return (
            [self.world.paypal_objects.get(CAPTURE, f"cap_{number}") for number in range(2)],
            [refunds.reservation(f"res-{slot}") for slot in range(4)],
            sorted((r.reservation_id, r.amount_minor) for r in refunds.unsettled_reservations(NOW + 100)),
            sorted(str(item["object_id"]) for item in self.world.paypal_objects.unsettled("refund", ("PENDING",), 0)),
        )


@FAST
@given(steps=st.lists(PAYPAL_STEPS, min_size=10, max_size=30))
def test_the_paypal_refund_twins_answer_and_show_the_same_at_every_step(steps: list[tuple[Any, ...]]) -> None:
    with moto_world() as dynamo:
        memory, moto = PayPalReplay(MemoryWorld()), PayPalReplay(dynamo)
        for number, (name, *arguments) in enumerate(steps):
            expected = getattr(memory, name)(*arguments)
            found = getattr(moto, name)(*arguments)
            assert expected == found, f"step {number} {name}{tuple(arguments)}: memory {expected}, moto {found}"
            assert memory.observe() == moto.observe(), f"after step {number} {name}{tuple(arguments)}"


def test_a_replay_sees_a_stale_read_as_stale() -> None:
    # The replays' own bookkeeping: an older read is handed out by age, the newest at age 0.
    replay = Replay(MemoryWorld())
    answer = replay.create(0, 0, 1, 0, 0, 4, 4, False)
    assert answer[0] == "ok"
    paid = replay.world.tickets.apply(answer[1], Trigger.PAID, {"session_id": "cs"})
    replay.seen(paid)
    assert replay.read(0, 0) == paid and replay.read(0, 1) == replace(paid, status=TicketStatus.RESERVED, session_id=None)
