"""The Checkout Session pacer (payments.domain.pacing) without AWS: its slots over the in-memory twin
of their store, in virtual time. Whatever the arrival times and the time each purchase takes
between its claim and its call to Stripe, no two calls share a slot and no sliding second holds
more than Stripe's rate of them."""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.domain.pacing import LEAD_SECONDS, MOST_WAIT_SECONDS, SessionPacer, SessionSlot, candidate_slots, slots_per_second
from payments.errors import Busy
from tests.support.memory_stores import MemorySessionSlots

T0 = 1_800_000_000.0


class VirtualTime:
    def __init__(self, now: float = T0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.slept.append(seconds)
        self.now += seconds


def most_in_a_sliding_second(times: list[float]) -> int:
    ordered = sorted(times)
    # A window [t, t + 1) holding the most calls starts at one of them.
    return max((bisect_left(ordered, start + 1.0) - index for index, start in enumerate(ordered)), default=0)


def test_the_slots_of_a_second_are_one_fewer_than_the_rate() -> None:
    assert slots_per_second(25) == 24
    assert slots_per_second(100) == 99
    with pytest.raises(ValueError):
        slots_per_second(1)  # no slot left for the margin
    # From an instant inside slot 10 (of 24 a second): slots 11 to 34, the last starting 1 s later at most.
    window = candidate_slots(10.5 / 24, 24)
    assert (window.start, window.stop) == (11, 35)
    assert (window.stop - 1) / 24 <= 10.5 / 24 + MOST_WAIT_SECONDS


def test_a_purchase_waits_for_the_next_slot_and_the_next_purchase_for_the_one_after() -> None:
    clock = VirtualTime(T0 + 0.01)
    store = MemorySessionSlots()
    pacer = SessionPacer(store, 25, clock=clock, sleep=clock.sleep)
    first, second = pacer.claim(), pacer.claim()
    assert second.number == first.number + 1
    # The first slot starting after the time a reservation takes (a slot over before the call is lost).
    assert T0 + 0.01 + LEAD_SECONDS < first.starts_at <= T0 + 0.01 + LEAD_SECONDS + 1 / 24
    assert first.ends_at == pytest.approx(first.starts_at + 1 / 24)
    assert pacer.ready(first) == first
    assert clock.now == pytest.approx(first.starts_at)
    assert sorted(store.claimed) == [first.number, second.number]
    # Each slot's item may go some minutes after its slot, not before.
    assert all(expires >= first.starts_at + 60 for expires in store.claimed.values())


def test_when_every_slot_of_the_next_second_is_taken_the_purchase_is_busy_with_retry_after_one() -> None:
    clock = VirtualTime()
    store = MemorySessionSlots()
    pacer = SessionPacer(store, 25, clock=clock, sleep=clock.sleep)
    claimed = [pacer.claim() for _ in range(len(candidate_slots(clock.now, 24, lead=LEAD_SECONDS)))]
    assert len({slot.number for slot in claimed}) == len(claimed) >= 24 - math.ceil(LEAD_SECONDS * 24)
    assert all(clock.now + LEAD_SECONDS < slot.starts_at <= clock.now + MOST_WAIT_SECONDS for slot in claimed)
    before = dict(store.claimed)
    with pytest.raises(Busy) as refused:
        pacer.claim()
    assert refused.value.status_code == 503
    assert refused.value.headers == {"Retry-After": "1"}
    assert store.claimed == before  # nothing claimed by the refused request


def test_a_slot_over_before_the_purchase_is_ready_is_replaced_by_a_free_one() -> None:
    clock = VirtualTime()
    store = MemorySessionSlots()
    pacer = SessionPacer(store, 25, clock=clock, sleep=clock.sleep)
    slot = pacer.claim()
    clock.now = slot.ends_at + 0.001  # the reservation took that long
    again = pacer.ready(slot)
    assert again.number > slot.number
    assert again.starts_at <= clock.now < again.ends_at


def test_a_late_purchase_finds_every_slot_taken_and_is_busy() -> None:
    clock = VirtualTime()
    store = MemorySessionSlots()
    pacer = SessionPacer(store, 25, clock=clock, sleep=clock.sleep)
    slot = pacer.claim()
    clock.now = slot.ends_at
    for number in candidate_slots(clock.now, 24):
        store.claim(number, 0)
    with pytest.raises(Busy):
        pacer.ready(slot)


@settings(max_examples=200, deadline=None)
@given(
    rate=st.sampled_from([2, 3, 25, 100]),
    purchases=st.lists(
        st.tuples(st.floats(0, 3, allow_nan=False), st.floats(0, 0.2, allow_nan=False)),
        min_size=1,
        max_size=300,
    ),
)
def test_no_sliding_second_holds_more_than_the_rate_however_requests_bunch(rate: int, purchases: list[tuple[float, float]]) -> None:
    """Purchases arrive at any instants (claims) and are ready to call Stripe some time later (their
    reservation); the actions of all of them run in time order over one store, as containers would."""
    clock = VirtualTime()
    store = MemorySessionSlots()
    pacer = SessionPacer(store, rate, clock=clock, sleep=clock.sleep)
    calls: list[tuple[float, int]] = []
    refused = 0
    # (when, order, what, purchase): "claim" at arrival, "ready" after the reservation's time.
    actions: list[tuple[float, int, str, int]] = [(T0 + arrival, index, "claim", index) for index, (arrival, _) in enumerate(purchases)]
    heapq.heapify(actions)
    held: dict[int, SessionSlot] = {}
    while actions:
        when, order, what, index = heapq.heappop(actions)
        clock.now = when
        try:
            if what == "claim":
                held[index] = pacer.claim()
                heapq.heappush(actions, (when + purchases[index][1], order, "ready", index))
            else:
                slot = pacer.ready(held[index])
                assert slot.starts_at - 1e-6 <= clock.now < slot.ends_at  # the call is made within its slot
                assert clock.now - when <= MOST_WAIT_SECONDS + 1e-9
                calls.append((clock.now, slot.number))
        except Busy:
            refused += 1
    assert len(calls) + refused == len(purchases)
    assert len({number for _, number in calls}) == len(calls)  # no two calls share a slot
    assert most_in_a_sliding_second([at for at, _ in calls]) <= rate


def test_a_slot_given_back_after_a_refused_reservation_is_claimed_by_the_next_purchase() -> None:
    clock = VirtualTime()
    store = MemorySessionSlots()
    pacer = SessionPacer(store, 25, clock=clock, sleep=clock.sleep)
    slot = pacer.claim()
    with pytest.raises(ValueError), pacer.given_back_on_failure(slot):
        raise ValueError("sold out")
    assert store.claimed == {}
    assert pacer.claim() == slot


def test_a_slot_that_cannot_be_given_back_is_only_lost_to_the_rate() -> None:
    class Failing(MemorySessionSlots):
        def free(self, slot: int) -> None:
            raise RuntimeError("DynamoDB unavailable")

    clock = VirtualTime()
    pacer = SessionPacer(Failing(), 25, clock=clock, sleep=clock.sleep)
    slot = pacer.claim()
    pacer.give_back(slot)  # logged, not raised: the purchase's own error is the one to answer
    assert pacer.claim().number == slot.number + 1
