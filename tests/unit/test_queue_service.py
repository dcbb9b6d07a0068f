"""The on-sale queue as a whole, without AWS: the queue and ticket services over the in-memory twins
of the stores (held to the DynamoDB repositories by tests/contract) and the Stripe stub, driven by
hypothesis through joins, admitter steps, time, purchases with good and forged passes, and
cancellations that give seats back. After every step: no seat sold twice, one reservation per
admission, every reservation by a buyer admitted then, admissions at most at the rate and (when
the admitter admits) within the seats left, places unique and stable."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from payments.auth import Caller
from payments.domain.admission import AdmissionPolicy, PlaceStatus, outstanding, place_status
from payments.domain.lifecycle import HOLDS_SEATS, Event
from payments.domain.queue import QueueService
from payments.domain.tickets import CheckoutStarted, TicketService
from payments.errors import ApiError, ConfigurationError
from payments.models.tickets import CancelRequest, PurchaseRequest
from payments.settings import get_settings
from tests.support.lifecycle_world import NOW, Stripe
from tests.support.memory_stores import MemoryStores

RATE = 2
POLICY = AdmissionPolicy(rate_per_second=RATE, window_ms=30_000)
KEY = b"queue-pass-key-of-the-model"
USERS = [f"user-{number}" for number in range(4)]


class OnSale(RuleBasedStateMachine):
    @initialize(capacity=st.integers(min_value=1, max_value=2))
    def start(self, capacity: int) -> None:
        self.clock = float(NOW)
        self.stores = MemoryStores()
        tickets = self.stores.tickets
        self.stripe = Stripe(clock=lambda: self.clock)
        self.queue = QueueService(
            tickets.get_event,
            lambda event_id: sum(tickets.availability(event_id).values()),
            self.stores.queues,
            lambda: KEY,
            POLICY,
            pass_seconds=60,
            clock=lambda: self.clock,
        )
        self.tickets = TicketService(tickets, lambda: self.stripe, get_settings(), clock=lambda: self.clock, queue=lambda: self.queue)
        self.event = Event(
            tickets.next_id("event"), "On-sale", Decimal("25.00"), "eur", capacity, capacity, "staff-1", NOW, on_sale_queue=True
        )
        tickets.put_event(self.event)
        self.capacity = capacity
        self.places: dict[str, int] = {}
        self.passes: dict[str, str] = {}
        self.reserved: dict[str, int] = {}  # user -> ticket id
        self.admitted_buyers = 0  # real buyers admitted so far (a place some user holds)

    def _caller(self, user: str) -> Caller:
        return Caller(user, frozenset())

    @rule(user=st.sampled_from(USERS))
    def join(self, user: str) -> None:
        answer = self.queue.join(self._caller(user), self.event.event_id)
        if user in self.places:
            assert answer.place == self.places[user]
        assert answer.place not in {place for other, place in self.places.items() if other != user}
        self.places[user] = answer.place
        self.passes[user] = answer.queue_pass

    @rule(seconds=st.sampled_from([0.0, 0.4, 1.0, 1.0, 3.0, 31.0]))
    def step(self, seconds: float) -> None:
        self.clock += seconds
        before = self.stores.queues.state(self.event.event_id)
        self.queue.admit_once()
        after = self.stores.queues.state(self.event.event_id)
        if after.sold_out:
            event("step found the event sold out")
        held = set(self.places.values())
        newly = [place for place in range(before.admitted_to + 1, after.admitted_to + 1) if place in held]
        self.admitted_buyers += len(newly)
        # Never faster than the rate: one second's credit at the start, then the rate.
        assert self.admitted_buyers <= RATE * (self.clock - NOW + 1)
        if newly:
            event("step admitted buyers")
            used = self.stores.queues.used(self.event.event_id, sorted(after.epochs))
            seats_left = sum(self.stores.tickets.availability(self.event.event_id).values())
            assert outstanding(after, used) <= seats_left

    @precondition(lambda self: self.places)
    @rule(data=st.data(), quantity=st.integers(min_value=1, max_value=2))
    def buy(self, data: st.DataObject, quantity: int) -> None:
        """A buyer who joined polls for a fresh pass and buys with it (admitted or not)."""
        user = data.draw(st.sampled_from(sorted(self.places)))
        self.passes[user] = self.queue.place(self._caller(user), self.event.event_id).queue_pass
        entry = self.stores.queues.entry(self.event.event_id, user)
        state = self.stores.queues.state(self.event.event_id)
        status = None if entry is None else place_status(state, entry, int(self.clock * 1000), POLICY)
        seats_before = self.stores.tickets.availability(self.event.event_id)
        request = PurchaseRequest(event_id=self.event.event_id, quantity=quantity, queue_pass=self.passes.get(user))
        try:
            started = self.tickets.purchase(self._caller(user), request)
        except ApiError as refused:
            assert refused.status_code in (400, 403, 409), refused
            event(f"purchase refused {refused.status_code}")
            assert self.stores.tickets.availability(self.event.event_id) == seats_before
            assert self.stores.queues.entry(self.event.event_id, user) == entry
            return
        assert isinstance(started, CheckoutStarted)
        # Only a buyer admitted at that moment reserves, once: within the watermark, window open (the
        # state may still say sold out from before a seat came back).
        assert entry is not None and entry.place <= state.admitted_to
        assert status in (PlaceStatus.ADMITTED, PlaceStatus.SOLD_OUT)
        assert user not in self.reserved
        self.reserved[user] = started.ticket.ticket_id
        event("purchase reserved")

    @rule(user=st.sampled_from(USERS))
    def forged(self, user: str) -> None:
        token = self.passes.get(user, "e30.AAAA")
        payload, _, signature = token.partition(".")
        forged = f"{payload}.{'A' if not signature.startswith('A') else 'B'}{signature[1:]}"
        before = self.stores.tickets.availability(self.event.event_id)
        try:
            self.tickets.purchase(self._caller(user), PurchaseRequest(event_id=self.event.event_id, quantity=1, queue_pass=forged))
        except ApiError as refused:
            assert refused.status_code in (400, 403), refused
        else:
            raise AssertionError("a forged pass reserved")
        assert self.stores.tickets.availability(self.event.event_id) == before

    @precondition(lambda self: self.reserved)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        """A reservation is cancelled: its seats come back (the queue moves again at the next step)."""
        user = data.draw(st.sampled_from(sorted(self.reserved)))
        self.tickets.cancel(self._caller(user), CancelRequest(ticket_id=self.reserved[user]))

    @invariant()
    def seats_are_never_sold_twice(self) -> None:
        if not hasattr(self, "event"):
            return
        held = sum(line.quantity for line in self.stores.tickets.ticket_lines(self.event) if line.status in HOLDS_SEATS)
        assert held + sum(self.stores.tickets.availability(self.event.event_id).values()) == self.capacity
        # One admission, one reservation: every ticket of the event is its buyer's only one.
        owners = [ticket.owner for ticket in map(self.stores.tickets.get_ticket, self.reserved.values()) if ticket is not None]
        assert len(owners) == len(set(owners)) == len(self.reserved)


OnSale.TestCase.settings = settings(max_examples=200, stateful_step_count=80, deadline=None)
TestOnSale = OnSale.TestCase


def test_a_queued_event_sold_by_a_service_with_no_queue_is_a_server_fault_that_names_it_and_writes_nothing() -> None:
    """A TicketService assembled without the queue cannot check a queue_pass: a 500 whose message
    (logged with the failure) says which piece is missing, refused before any seat is taken."""
    stores = MemoryStores()
    tickets = stores.tickets
    service = TicketService(tickets, Stripe, get_settings(), clock=lambda: float(NOW))
    queued = Event(tickets.next_id("event"), "On-sale", Decimal("25.00"), "eur", 2, 2, "staff-1", NOW, on_sale_queue=True)
    tickets.put_event(queued)
    seats = tickets.availability(queued.event_id)
    with pytest.raises(ConfigurationError) as refused:
        service.purchase(Caller("user-0", frozenset()), PurchaseRequest(event_id=queued.event_id, quantity=1, queue_pass="pass.sig"))
    assert (refused.value.status_code, refused.value.message) == (500, "An event sold through a queue, and no queue configured")
    assert tickets.availability(queued.event_id) == seats
    assert list(tickets.ticket_lines(queued)) == []


@pytest.mark.parametrize(
    ("window", "admitted"),
    [
        ({"opens_at": NOW + 60}, False),  # before the sale opens
        ({"closes_at": NOW}, False),  # closed
        ({"sales_paused": True}, False),  # paused by staff
        ({"opens_at": NOW, "closes_at": NOW + 60}, True),  # on sale
    ],
)
def test_the_admitter_admits_only_while_the_event_is_on_sale(window: dict[str, object], admitted: bool) -> None:
    # An admission given outside the sale could not be used and would lapse: the places keep their turn.
    stores = MemoryStores()
    tickets = stores.tickets
    queue = QueueService(
        tickets.get_event,
        lambda event_id: sum(tickets.availability(event_id).values()),
        stores.queues,
        lambda: KEY,
        POLICY,
        60,
        clock=lambda: NOW,
    )
    event_id = tickets.next_id("event")
    tickets.put_event(Event(event_id, "On-sale", Decimal("25.00"), "eur", 5, 5, "staff-1", NOW, on_sale_queue=True, **window))  # type: ignore[arg-type]
    place = queue.join(Caller("user-1", frozenset()), event_id).place
    report = queue.admit_once()
    assert (stores.queues.state(event_id).admitted_to >= place) is admitted
    assert report.admitted == (1 if admitted else 0)
