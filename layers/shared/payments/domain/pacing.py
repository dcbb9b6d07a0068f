"""Checkout Sessions paced at Stripe's rate, however purchases bunch (docs/on-sales.md).

Stripe answers 429 beyond ``rate`` requests in any sliding second per endpoint (25 by default). A
throttle at the edge cannot promise that: the time between API Gateway and Stripe varies (cold
starts, DynamoDB's retries), and a burst lets twice the rate through in a sliding second. So time is
cut into slots of ``1 / (rate - 1)`` seconds, numbered from the epoch, and each session creation
holds one: a purchase claims the first free slot that starts after now and at most ``MOST_WAIT_SECONDS``
ahead (one item per slot, a conditional put: no two purchases of any container share a slot), then
waits until its slot starts and calls Stripe within it. A call made within its slot, slots being
``1 / (rate - 1)`` wide, leaves at most ``rate`` calls in any sliding second; the one slot of margin
absorbs a call sent late within its slot. A purchase whose slot has already ended when it is ready
(its reservation took that long) claims another. No free slot within the wait: ``Busy`` (503,
``Retry-After: 1``), raised before anything else of the purchase is written.

The slots are as good as the clocks of the containers (Lambda's are kept by NTP, within
milliseconds) and the network to Stripe is even; neither is ours to pace."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from payments.context import system_time
from payments.errors import Busy
from payments.observability import logger

# How far ahead a purchase may wait for its slot (seconds); beyond it the buyer is told to come back.
MOST_WAIT_SECONDS = 1.0
# A slot's item outlives its slot by this much before DynamoDB's TTL may delete it (seconds).
SLOT_KEPT_SECONDS = 300
# A purchase claims a slot starting at least this far ahead (seconds): the time its reservation
# usually takes between the claim and the call, so that the slot is not over before the call (then
# another is claimed, and the first is lost to the rate).
LEAD_SECONDS = 0.1
# Slots read at once (DynamoDB's BatchGetItem takes 100 keys).
READ_BATCH = 100


class SessionSlotStore(Protocol):
    """The slots claimed, one item each (``repositories.stripe_slots``; its in-memory twin in the tests)."""

    def taken(self, slots: Sequence[int]) -> set[int]:
        """Those of ``slots`` known claimed (a read that may lag a claim just made: a claim decides)."""
        ...

    def claim(self, slot: int, expires_at: int) -> bool:
        """Slot ``slot`` taken for this request (False, nothing written, when someone holds it); its
        item may be deleted after ``expires_at`` (epoch seconds)."""
        ...

    def free(self, slot: int) -> None:
        """Slot ``slot`` given up unused (its item deleted): another request may claim it."""
        ...


MINIMUM_RATE = 2


def slots_per_second(rate: int) -> int:
    """How many slots a second holds at Stripe's ``rate``: one fewer, the margin for a late call. A
    rate of 1 leaves no slot for the margin (a call late in its slot and the next slot's call would
    fall within one second), so the settings and the template refuse it: ValueError here."""
    if rate < MINIMUM_RATE:
        raise ValueError(f"Stripe's session rate must be at least {MINIMUM_RATE} a second to be paced")
    return rate - 1


def slot_start(slot: int, per_second: int) -> float:
    return slot / per_second


def candidate_slots(now: float, per_second: int, most_wait: float = MOST_WAIT_SECONDS, lead: float = 0.0) -> range:
    """The slots a request at ``now`` may claim, in order: those starting after ``now + lead`` (a
    slot begun may hold a session already sent) and at most ``most_wait`` ahead of now."""
    first = math.floor((now + lead) * per_second) + 1
    last = math.floor((now + most_wait) * per_second)
    return range(first, max(first, last + 1))


@dataclass(frozen=True)
class SessionSlot:
    number: int
    starts_at: float
    ends_at: float


class SessionPacer:
    """Claims a slot for each Checkout Session and waits for it (``claim``, then ``ready`` when the
    session is about to be created). The clock and the sleep are injected: tests run in virtual time."""

    def __init__(
        self,
        store: SessionSlotStore,
        rate: int,
        clock: Callable[[], float] = system_time,
        sleep: Callable[[float], None] | None = None,
        most_wait: float = MOST_WAIT_SECONDS,
        lead: float = LEAD_SECONDS,
    ) -> None:
        self._store = store
        self._per_second = slots_per_second(rate)
        self._clock = clock
        self._sleep = sleep or _sleep
        self._most_wait = most_wait
        self._lead = lead

    def claim(self, lead: float | None = None) -> SessionSlot:
        """The first free slot from ``lead`` ahead, claimed; ``Busy`` when none is free within the wait."""
        lead = self._lead if lead is None else lead
        candidates = candidate_slots(self._clock(), self._per_second, self._most_wait, lead)
        for begin in range(0, len(candidates), READ_BATCH):
            # Each batch of the window read first: a refused request costs reads, not a put per slot.
            batch = candidates[begin : begin + READ_BATCH]
            taken = self._store.taken(batch)
            for number in batch:
                if number in taken:
                    continue
                start = slot_start(number, self._per_second)
                if self._store.claim(number, math.ceil(start) + SLOT_KEPT_SECONDS):
                    return SessionSlot(number, start, slot_start(number + 1, self._per_second))
        raise Busy("Checkout is busy right now; please retry in a second", retry_after=1)

    def give_back(self, slot: SessionSlot) -> None:
        """A slot whose purchase was refused before its call (sold out, over a limit): freed, so that
        the refused request leaves nothing written and another purchase may use the slot. Should the
        delete fail, the slot is only lost to the rate (its TTL removes the item)."""
        try:
            self._store.free(slot.number)
        except Exception:
            logger.warning("Could not free a Checkout Session slot", extra={"slot": slot.number})

    @contextmanager
    def given_back_on_failure(self, slot: SessionSlot | None) -> Iterator[None]:
        """Gives ``slot`` back when the block fails (the purchase refused before its call to Stripe)."""
        try:
            yield
        except BaseException:
            if slot is not None:
                self.give_back(slot)
            raise

    def ready(self, slot: SessionSlot) -> SessionSlot:
        """Waits until ``slot`` starts; a slot already over is replaced by a new one (``Busy`` when
        none is free), so that the call that follows is made within the slot returned."""
        now = self._clock()
        if now >= slot.ends_at:
            slot = self.claim(lead=0.0)  # ready now: the first free slot
            now = self._clock()
        if slot.starts_at > now:
            self._sleep(slot.starts_at - now)
        return slot


def _sleep(seconds: float) -> None:
    # ``time.sleep`` looked up at each call: a test that runs in virtual time replaces this module's ``time``.
    time.sleep(seconds)
