"""The on-sale queue's rules, pure (no I/O, no clock): buyers of an event that enables it join in arrival order, and an admitter lets
them through to the reservation path at the rate the slowest dependency sustains (Stripe's Checkout
Session rate) and never beyond the seats left (docs/on-sales.md#the-on-sale-queue).

Admission is a watermark: the queue's state says "admitted up to place N"; the buyer with place
<= N is admitted, and nothing is written per buyer when that happens. The admitter moves N on
(``advance``, a pure function of the state, the time, the seats left, the places handed out and the
admissions used) and records, per epoch of ``EPOCH_SECONDS``, the last place it admitted then: an
admission's window to reserve ends ``window`` after its epoch ends. An admission is used once, in
the reservation's own transaction (a condition on the buyer's queue item), so two tabs cannot
reserve on one admission. An admission that lapses unused returns its room to the queue.

The queue pass is the buyer's place signed with HMAC-SHA256 (the standard library's ``hmac``) under
a key from SSM, bound to the event and the account, and expiring: the reservation path refuses a
buyer whose pass is missing, forged or expired, or whose place is not admitted, before any write.
Every time here is in integer milliseconds, so that the rate holds exactly (no float drift).
``payments.domain.queue`` is the service that reads and writes through the ``QueueStore`` port."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

# Admissions are grouped by the epoch (of this many seconds) in which they were granted: the
# queue's state keeps one entry per open epoch (not one per second or per buyer), and the uses of
# an epoch's admissions are counted on an item of their own.
EPOCH_SECONDS = 10
EPOCH_MS = EPOCH_SECONDS * 1000


class PlaceStatus(StrEnum):
    WAITING = "waiting"  # place beyond the watermark
    ADMITTED = "admitted"  # place within it, window open, not used: may reserve now
    SOLD_OUT = "sold_out"  # no seat left for a buyer not yet served (the queue moves again if seats come back)
    EXPIRED = "expired"  # admitted, but the window to reserve closed unused
    USED = "used"  # the admission reserved a ticket


@dataclass(frozen=True)
class AdmissionPolicy:
    """How fast and how far the admitter may go: ``rate_per_second`` admissions a second at most
    (Stripe's Checkout Session rate), ``window_ms`` for an admitted buyer to reserve, the open
    admissions counted at ``completion_percent`` (the share of admitted buyers who reserve: 100
    counts each whole until its window ends; fewer over-admits, and an admitted buyer who then
    finds no seat is refused by the reservation's own transaction), and at most ``burst_ms`` of
    unused rate carried over an idle spell. ``poll_budget_per_second``: the polls a second the
    waiting buyers' hints may ask for together (``poll_after_ms``)."""

    rate_per_second: int
    window_ms: int
    completion_percent: int = 100
    burst_ms: int = 1000
    poll_budget_per_second: int = 3000

    def __post_init__(self) -> None:
        if self.rate_per_second < 1 or self.window_ms < 1 or self.burst_ms < 0 or self.poll_budget_per_second < 1:
            raise ValueError("an admission policy needs a positive rate, window and poll budget, and no negative burst")
        if not 1 <= self.completion_percent <= 100:
            raise ValueError("an admission policy's completion share is 1 to 100 percent")


# Places come from this many counters (each under a partition key of its own, so that joins spread
# over them): counter c hands out places c + 1, c + 1 + K, c + 1 + 2K ... A place's counter and its
# value (the how-manieth of that counter's places it is) follow from the place alone.
PLACE_COUNTERS = 8


def place_of(counter: int, value: int, counters: int = PLACE_COUNTERS) -> int:
    """The place the ``value``-th draw of ``counter`` stands for (values start at 1)."""
    return (value - 1) * counters + counter + 1


def counter_of(place: int, counters: int = PLACE_COUNTERS) -> tuple[int, int]:
    """The counter and value of ``place``."""
    return (place - 1) % counters, (place - 1) // counters + 1


# A join that finds no place counter written for this long (no other join in that time) takes the
# lowest place the counters can give, conditioned on the counter as read: it is placed behind every
# buyer who joined before it. Joins closer together take the one behind of two counters drawn at
# random (the counters' keys spread a burst; its places are ties within a round of K).
QUIET_MS = 250


def lowest_next(values: Mapping[int, int], counters: int = PLACE_COUNTERS) -> int:
    """The counter whose next place is the lowest of all (``values``: each counter's value read)."""
    return min(range(counters), key=lambda counter: place_of(counter, values.get(counter, 0) + 1, counters))


def counter_floors(admitted_to: int, counters: int = PLACE_COUNTERS) -> dict[int, int]:
    """How many values each counter must have handed out (or skipped) so that no place up to
    ``admitted_to`` is handed out any more: a buyer who joins later never gets an admitted place
    ahead of those waiting."""
    return {counter: max(0, (admitted_to - counter - 1) // counters + 1) for counter in range(counters)}


@dataclass(frozen=True)
class QueueState:
    """One event's queue as the admitter keeps it. ``epochs`` maps each epoch (time // EPOCH_MS)
    whose admissions may still be used to the last place admitted in it, and ``holes`` to how many
    of its admitted places nobody held (a counter behind the others: the place is skipped, never
    handed out afterwards, and takes no room); every place up to ``lapsed_to`` belongs to an epoch
    whose window closed. ``credited_ms``: the rate has been spent up to this time. ``version``
    counts the admitter's writes (each conditioned on the one it read)."""

    admitted_to: int = 0
    lapsed_to: int = 0
    credited_ms: int = 0
    epochs: Mapping[int, int] = field(default_factory=dict)
    holes: Mapping[int, int] = field(default_factory=dict)
    sold_out: bool = False
    version: int = 0
    updated_ms: int = 0
    # The last step stopped at the seats (every seat left covered by admissions still open) with
    # buyers still waiting: those wait for open admissions to lapse (up to the window) or seats to
    # come back, not for the rate, and are promised no wait.
    seat_bound: bool = False
    # What the last step saw, for the buyers' poll hints: the seats not held, and the last place
    # handed out (the waiting are about the places between the watermark and it).
    seats_left: int = 0
    handed_to: int = 0

    def epoch_of(self, place: int) -> int | None:
        """The open epoch that admitted ``place``; None when it is not admitted or its epoch closed."""
        if place <= self.lapsed_to or place > self.admitted_to:
            return None
        for epoch in sorted(self.epochs):
            if self.epochs[epoch] >= place:
                return epoch
        return None


def window_end_ms(epoch: int, policy: AdmissionPolicy) -> int:
    """When the admissions of ``epoch`` lapse: ``window`` after the epoch's end (so a buyer admitted
    early in an epoch has up to EPOCH_SECONDS more; never less than the window)."""
    return (epoch + 1) * EPOCH_MS + policy.window_ms


def step_time_ms(state: QueueState, now_ms: int) -> int:
    """The time a step runs at: the stepping admitter's clock, never before the state's own last
    step. Two runs' clocks differ by a few milliseconds; a run a little behind must never file its
    admissions under an epoch before the state's last (``epoch_of`` would then give the places
    admitted in the later epoch the earlier one's window, ending before what their buyers were told)."""
    return max(now_ms, state.updated_ms)


def outstanding(state: QueueState, used_by_epoch: Mapping[int, int]) -> int:
    """Admissions granted to buyers, still open and not used: the room they may still take from the seats."""
    total, previous = 0, state.lapsed_to
    for epoch in sorted(state.epochs):
        buyers = state.epochs[epoch] - previous - state.holes.get(epoch, 0)
        total += max(0, buyers - max(used_by_epoch.get(epoch, 0), 0))
        previous = state.epochs[epoch]
    return total


def expected_reservations(state: QueueState, used_by_epoch: Mapping[int, int], completion_percent: int) -> int:
    """The open admissions expected still to reserve: per open epoch, ``completion_percent`` of its
    buyers (the share that leaves rounded down) less those who reserved already, never below none.
    So the room held for an epoch's buyers who leave comes back once the others have reserved, not
    when its window ends. At 100, every open admission not used (``outstanding``)."""
    total, previous = 0, state.lapsed_to
    for epoch in sorted(state.epochs):
        buyers = state.epochs[epoch] - previous - state.holes.get(epoch, 0)
        leaving = buyers * (100 - completion_percent) // 100
        total += max(0, buyers - leaving - max(used_by_epoch.get(epoch, 0), 0))
        previous = state.epochs[epoch]
    return total


def advance(
    state: QueueState,
    *,
    now_ms: int,
    seats_left: int,
    handed: Mapping[int, int],
    used_by_epoch: Mapping[int, int],
    policy: AdmissionPolicy,
    counters: int = PLACE_COUNTERS,
) -> QueueState:
    """The admitter's one step: epochs whose window closed are dropped (their unused admissions
    lapse and give their room back), then the watermark moves on over as many buyers as all of
    these allow: the rate credited since the last admission (at most ``burst_ms`` of idle credit),
    and the seats left less the open admissions expected still to reserve (``expected_reservations``;
    the new ones count whole until the next step). ``handed``: how many
    places each counter has handed out; a place beyond its counter's is a hole (nobody holds it):
    passed over at no cost, and closed by the caller (``counter_floors``). The watermark never
    passes the last place handed out, so a place nobody holds yet is never admitted ahead. The
    step's time never goes back (``step_time_ms``). Pure."""
    now_ms = step_time_ms(state, now_ms)
    open_epochs = {epoch: last for epoch, last in state.epochs.items() if window_end_ms(epoch, policy) > now_ms}
    closed = [last for epoch, last in state.epochs.items() if epoch not in open_epochs]
    lapsed_to = max([state.lapsed_to, *closed])
    # An epoch older than one that closed closes with it (epochs close in time order).
    open_epochs = {epoch: last for epoch, last in open_epochs.items() if last > lapsed_to}
    open_holes = {epoch: count for epoch, count in state.holes.items() if epoch in open_epochs}
    closing = replace(state, lapsed_to=lapsed_to, epochs=open_epochs, holes=open_holes)
    room = max(seats_left, 0) - expected_reservations(closing, used_by_epoch, policy.completion_percent)
    credit_from = min(max(state.credited_ms, now_ms - policy.burst_ms), now_ms)
    rate_budget = (now_ms - credit_from) * policy.rate_per_second // 1000
    budget = max(0, min(room, rate_budget))
    last = max((place_of(counter, value, counters) for counter, value in handed.items() if value > 0), default=0)
    place, buyers, holes, stopped = state.admitted_to, 0, 0, False
    while place < last:
        counter, value = counter_of(place + 1, counters)
        if value <= handed.get(counter, 0):
            if buyers == budget:
                stopped = True  # a buyer is left waiting
                break
            buyers += 1
        else:
            holes += 1
        place += 1
    epochs, hole_counts = dict(open_epochs), dict(open_holes)
    if place > state.admitted_to:
        epoch = now_ms // EPOCH_MS
        epochs[epoch] = place
        hole_counts[epoch] = hole_counts.get(epoch, 0) + holes
    # The credit is spent by exactly the buyers admitted, rounded up: the rate holds over any stretch.
    spent = -(-buyers * 1000 // policy.rate_per_second)
    return QueueState(
        admitted_to=place,
        lapsed_to=lapsed_to,
        credited_ms=max(state.credited_ms, credit_from + spent),
        epochs=epochs,
        holes={epoch: count for epoch, count in hole_counts.items() if count},
        sold_out=seats_left <= 0,
        version=state.version,
        updated_ms=now_ms,
        seat_bound=stopped and room <= rate_budget,
        seats_left=max(seats_left, 0),
        handed_to=max(state.handed_to, last),
    )


def moved(before: QueueState, after: QueueState) -> bool:
    """Whether a step changed what buyers see, their poll hints included (else nothing is written:
    the rate's credit is recomputed from the time at the next step, within ``burst_ms``)."""

    def seen(state: QueueState) -> tuple[object, ...]:
        return (state.admitted_to, state.lapsed_to, dict(state.epochs), state.sold_out, state.seat_bound, state.seats_left, state.handed_to)

    return seen(before) != seen(after)


@dataclass(frozen=True)
class QueueEntry:
    """A buyer's place in an event's queue (their item), and the use of its admission, if any."""

    event_id: int
    owner: str
    place: int
    joined_ms: int
    used_ms: int | None = None
    ticket_id: int | None = None


@dataclass(frozen=True)
class Admission:
    """What a reservation consumes, in its own transaction: the buyer's place, unused, and still
    admitted in the queue's state; ``epoch`` counts the use."""

    event_id: int
    owner: str
    place: int
    epoch: int


def place_status(state: QueueState, entry: QueueEntry, now_ms: int, policy: AdmissionPolicy) -> PlaceStatus:
    if entry.used_ms is not None:
        return PlaceStatus.USED
    if entry.place > state.admitted_to:
        return PlaceStatus.SOLD_OUT if state.sold_out else PlaceStatus.WAITING
    epoch = state.epoch_of(entry.place)
    if epoch is None or window_end_ms(epoch, policy) <= now_ms:
        return PlaceStatus.EXPIRED
    return PlaceStatus.SOLD_OUT if state.sold_out else PlaceStatus.ADMITTED


# the poll hint -----------------------------------------------------------------------------------
# The admitter steps once a second: a poll sooner brings no news.
POLL_MIN_MS = 1000
# The longest a hint asks a page to wait while polls are plentiful (its estimates may be off: seats
# coming back, a rate changed), and how long an admitted, used or expired place waits (nothing is
# left to hear for it; the admitted page goes on to the purchase).
POLL_MAX_MS = 60_000


def poll_after_ms(state: QueueState, place: int, status: PlaceStatus, policy: AdmissionPolicy) -> int:
    """When a buyer's page should ask for their place again (docs/on-sales.md#poll-hints), from a
    second to a minute. ``spread``: the time in which every waiting buyer polls once within
    ``poll_budget_per_second``. A buyer whose turn (at the rate) is within a spread polls at half
    the time to it; one further back at half the time before anything can change for them (their
    turn, or the seats gone at the rate: sooner as the last seats go), but never more often than
    once per spread. So the waiting buyers' polls together stay near the budget however long the
    queue (those near the front add about 2 x rate x (1 + ln(spread / 2 s)) a second), the front
    hears its admission within a second or two, and everyone hears "sold out" within a spread of
    its step. A sold-out place (seats come back only from checkouts that expire or are cancelled)
    waits a minute or a spread."""
    waiting = max(place - state.admitted_to, state.handed_to - state.admitted_to)
    spread = -(-waiting * 1000 // policy.poll_budget_per_second)
    if status == PlaceStatus.SOLD_OUT:
        return max(POLL_MAX_MS, spread)
    if status != PlaceStatus.WAITING:
        return POLL_MAX_MS
    turn_ms = (place - state.admitted_to) * 1000 // policy.rate_per_second
    if turn_ms <= spread:
        # Near the front: their turn decides (the seats gone would call all of them at once).
        return min(max(turn_ms // 2, POLL_MIN_MS), POLL_MAX_MS)
    gone_ms = state.seats_left * 1000 // policy.rate_per_second
    return max(min(max(min(turn_ms, gone_ms) // 2, POLL_MIN_MS), POLL_MAX_MS), spread)


# the queue's status: one answer for every waiting buyer -------------------------------------------
# How often a waiting buyer's page asks for the status (docs/on-sales.md#the-queues-status). A CDN
# keeps the answer a second (max-age=1), so the origin sees about a request a second per edge
# location however many buyers poll, and a change reaches every page within this plus the
# answer's age: 2 s + 1 s, after the admitter's step (a second at most).
STATUS_POLL_MS = 2000


@dataclass(frozen=True)
class QueueStatus:
    """What every waiting buyer of an event needs to hear, the same for all of them: how far the
    queue has admitted, whether it is sold out, whether it waits on the seats (then no wait is
    promised), and the rate it admits at (a page knows its place from its join: its wait is the
    places ahead at this rate). ``updated_ms``: the admitter's last step that changed it."""

    event_id: int
    admitted_to: int
    sold_out: bool
    seat_bound: bool
    admission_rate_per_second: int
    updated_ms: int
    poll_after_ms: int = STATUS_POLL_MS


def queue_status(event_id: int, state: QueueState, policy: AdmissionPolicy) -> QueueStatus:
    """The queue's shared state as the status route answers it, from one copy of the state. Pure."""
    return QueueStatus(
        event_id=event_id,
        admitted_to=state.admitted_to,
        sold_out=state.sold_out,
        seat_bound=state.seat_bound,
        admission_rate_per_second=policy.rate_per_second,
        updated_ms=state.updated_ms,
    )


# the queue pass ----------------------------------------------------------------------------------
class PassRefused(Exception):
    """A queue pass that is not ours, not this buyer's or this event's, or expired; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class QueuePass:
    event_id: int
    owner: str
    place: int
    expires_ms: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_pass(key: bytes, queue_pass: QueuePass) -> str:
    """``<payload>.<signature>``, both base64url: the payload the pass's fields as compact JSON, the
    signature HMAC-SHA256 over the payload's text under ``key``."""
    body = {"e": queue_pass.event_id, "u": queue_pass.owner, "p": queue_pass.place, "x": queue_pass.expires_ms}
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    signature = hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()
    return f"{payload}.{_b64(signature)}"


def read_pass(key: bytes, token: str, *, event_id: int, owner: str, now_ms: int) -> QueuePass:
    """The pass, when ``token`` is one we signed for this event and account and it has not expired;
    else PassRefused. The signature is compared in constant time before anything in it is read."""
    found = _signed_pass(key, token)
    if found.event_id != event_id or found.owner != owner:
        raise PassRefused("a queue pass of another event or account")
    if found.expires_ms <= now_ms:
        raise PassRefused("expired; ask for your place again for a new one")
    return found


def read_event_pass(key: bytes, token: str, *, event_id: int, now_ms: int) -> QueuePass:
    """Any buyer's pass of this event, unexpired; else PassRefused. What the queue's status asks:
    it reaches the origin without the buyer's token (a shared cache keys on no account), and its
    answer is the same for every buyer of the event, so the pass proves only "a buyer of this
    event's queue, lately"."""
    found = _signed_pass(key, token)
    if found.event_id != event_id:
        raise PassRefused("a queue pass of another event")
    if found.expires_ms <= now_ms:
        raise PassRefused("expired; ask for your place again for a new one")
    return found


def _signed_pass(key: bytes, token: str) -> QueuePass:
    """The pass ``token`` carries, when we signed it; else PassRefused. The signature is compared
    in constant time before anything in it is read."""
    payload, _, signature = token.partition(".")
    expected = hmac.new(key, payload.encode("ascii", "replace"), hashlib.sha256).digest()
    try:
        given = _unb64(signature)
    except (binascii.Error, ValueError):
        raise PassRefused("not a queue pass of ours") from None
    if not payload or not hmac.compare_digest(expected, given):
        raise PassRefused("not a queue pass of ours")
    try:
        body = json.loads(_unb64(payload))
        found = QueuePass(event_id=int(body["e"]), owner=str(body["u"]), place=int(body["p"]), expires_ms=int(body["x"]))
    except (binascii.Error, ValueError, TypeError, KeyError):
        # Signed by us yet unreadable: only a key shared with something else could do that.
        raise PassRefused("not a queue pass of ours") from None
    return found
