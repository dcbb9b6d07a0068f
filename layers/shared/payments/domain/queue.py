"""The on-sale queue's service: buyers join and poll, a queued purchase is checked for its
admission, and the admitter steps every queue; the rules are ``payments.domain.admission``'s
(docs/on-sales.md#the-on-sale-queue)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from payments import metrics
from payments.auth import Caller
from payments.context import system_time
from payments.domain.admission import (
    EPOCH_MS,
    Admission,
    AdmissionPolicy,
    PassRefused,
    PlaceStatus,
    QueueEntry,
    QueuePass,
    QueueState,
    QueueStatus,
    advance,
    counter_floors,
    moved,
    place_status,
    poll_after_ms,
    queue_status,
    read_event_pass,
    read_pass,
    sign_pass,
    step_time_ms,
    window_end_ms,
)
from payments.domain.events import sale_refusal
from payments.domain.lifecycle import Event
from payments.errors import ApiError, Conflict, Forbidden, NotFound
from payments.observability import audit, logger

if TYPE_CHECKING:
    from payments.domain.ports import QueueStore


# the service -------------------------------------------------------------------------------------
class NotAdmitted(Forbidden):
    """A buyer of a queued event without a usable admission: nothing is written."""


@dataclass(frozen=True)
class QueueAnswer:
    """What a buyer is told of their place: answered by join and by every poll."""

    event_id: int
    place: int
    status: PlaceStatus
    admitted_to: int
    estimated_wait_seconds: int | None
    admission_expires_ms: int | None
    queue_pass: str
    pass_expires_ms: int
    # When the page should ask again (``poll_after_ms``): the waiting buyers' polls within a budget.
    poll_after_ms: int


@dataclass
class AdmitterReport:
    ticks: int = 0
    admitted: int = 0
    writes: int = 0
    conflicts: int = 0
    events: set[int] = field(default_factory=set)
    # Queues stepped at the last step: none, and the scheduled run ends at once.
    active: int = 0
    # Steps of one queue that failed (each logged and counted; the other queues went on).
    failures: int = 0


class QueueService:
    def __init__(
        self,
        events: Callable[[int], Event | None],
        seats_left: Callable[[int], int],
        store: QueueStore,
        pass_key: Callable[[], bytes],
        policy: AdmissionPolicy,
        pass_seconds: int,
        clock: Callable[[], float] = system_time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._events = events
        self._seats_left = seats_left
        self._store = store
        self._pass_key = pass_key  # resolved on first use (SSM in AWS): the admitter never needs it
        self._policy = policy
        self._pass_ms = pass_seconds * 1000
        self._clock = clock
        self._sleep = sleep

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _view(self, event_id: int) -> QueueState:
        """A copy of the queue's state; 404 when the event has none. Joins and polls never read the
        event itself: its item (and its seat shards) would be one key read by every buyer. Only a
        request for an event without a queue reads it, to say which of the two it is."""
        state = self._store.view(event_id)
        if state is None:
            raise NotFound("Event not found" if self._events(event_id) is None else "This event has no queue: buy directly")
        return state

    # buyers --------------------------------------------------------------------------------------
    def join(self, caller: Caller, event_id: int) -> QueueAnswer:
        """A place for the caller, in arrival order; joining again answers the same place."""
        state = self._view(event_id)
        now = self._now_ms()
        entry, new = self._store.join(event_id, caller.user_id, now)
        if new:
            audit("queue.joined", user_id=caller.user_id, event_id=event_id, place=entry.place)
        return self._answer(entry, state, now)

    def place(self, caller: Caller, event_id: int) -> QueueAnswer:
        """The caller's place as the queue stands: two reads (the buyer's item, a copy of the state)."""
        entry = self._store.entry(event_id, caller.user_id)
        state = self._view(event_id)
        if entry is None:
            raise NotFound("You have not joined this event's queue")
        return self._answer(entry, state, self._now_ms())

    def status(self, event_id: int, token: str | None) -> QueueStatus:
        """The queue's shared state, for every waiting buyer alike (a CDN keeps it a second): one
        read of a copy of the state. It comes without the buyer's token, so it asks for a pass of
        this event (any buyer's, unexpired), checked before anything is read: a request without one
        costs no read. 404 when the event has no queue (the event itself is not read)."""
        if not token:
            raise Forbidden("queue_pass: required (send the queue_status_url of your join or place answer)")
        try:
            read_event_pass(self._pass_key(), token, event_id=event_id, now_ms=self._now_ms())
        except PassRefused as refused:
            raise Forbidden(f"queue_pass: {refused.reason}") from None
        state = self._store.view(event_id)
        if state is None:
            raise NotFound("This event has no queue")
        return queue_status(event_id, state, self._policy)

    def _answer(self, entry: QueueEntry, state: QueueState, now_ms: int) -> QueueAnswer:
        status = place_status(state, entry, now_ms, self._policy)
        wait: int | None = 0
        expires: int | None = None
        if status == PlaceStatus.WAITING:
            # At the rate, unless the queue stopped at the seats: then it moves only as open
            # admissions lapse unused (up to the window) or seats come back, and no wait is promised.
            wait = None if state.seat_bound else -(-(entry.place - state.admitted_to) // self._policy.rate_per_second)
        elif status == PlaceStatus.SOLD_OUT:
            wait = None
        elif status == PlaceStatus.ADMITTED:
            epoch = state.epoch_of(entry.place)
            expires = None if epoch is None else window_end_ms(epoch, self._policy)
        pass_expires = now_ms + self._pass_ms
        token = sign_pass(self._pass_key(), QueuePass(entry.event_id, entry.owner, entry.place, pass_expires))
        return QueueAnswer(
            event_id=entry.event_id,
            place=entry.place,
            status=status,
            admitted_to=state.admitted_to,
            estimated_wait_seconds=wait,
            admission_expires_ms=expires,
            queue_pass=token,
            pass_expires_ms=pass_expires,
            poll_after_ms=poll_after_ms(state, entry.place, status, self._policy),
        )

    # the reservation path --------------------------------------------------------------------------
    def admission(self, caller: Caller, event: Event, token: str | None) -> Admission:
        """The admission a reservation of a queued event consumes; NotAdmitted (403), before any
        write, when the pass is missing, forged, expired, names a place the account does not hold,
        or its place is not admitted now; Conflict (409), before any write, when the admission was
        used already."""
        if token is None:
            raise NotAdmitted("This event sells through its queue: join it, and send your queue_pass once admitted")
        now = self._now_ms()
        try:
            queue_pass = read_pass(self._pass_key(), token, event_id=event.event_id, owner=caller.user_id, now_ms=now)
        except PassRefused as refused:
            raise NotAdmitted(f"queue_pass: {refused.reason}") from None
        # The buyer's item first (one read): an admission used already (a second tab) or a place the
        # account does not hold is refused here, before the reservation draws a ticket id (a write).
        # The reservation's transaction stays the guard against a use racing this read.
        entry = self._store.entry(event.event_id, caller.user_id)
        if entry is not None and entry.used_ms is not None:
            raise Conflict(f"Your admission was already used (ticket {entry.ticket_id})", ticket_id=entry.ticket_id)
        if entry is None or entry.place != queue_pass.place:
            raise NotAdmitted("queue_pass: not a queue pass of ours")
        # Decided by the watermark and the window alone, not by ``sold_out``: seats may have come back
        # since the admitter's last step, and whether any is left is the reservation's to find.
        state = self._store.state(event.event_id)
        if queue_pass.place > state.admitted_to:
            raise NotAdmitted(
                f"Not admitted yet: your place is {queue_pass.place}, admitted up to {state.admitted_to}",
                place=queue_pass.place,
                admitted_to=state.admitted_to,
            )
        epoch = state.epoch_of(queue_pass.place)
        if epoch is None or window_end_ms(epoch, self._policy) <= now:
            raise NotAdmitted("Your admission expired before you reserved", place=queue_pass.place)
        return Admission(event.event_id, caller.user_id, queue_pass.place, epoch)

    def refused(self, admission: Admission) -> ApiError:
        """Why a reservation's admission failed in its transaction (read again: its use, or a lapse)."""
        entry = self._store.entry(admission.event_id, admission.owner)
        if entry is not None and entry.used_ms is not None:
            return Conflict(f"Your admission was already used (ticket {entry.ticket_id})", ticket_id=entry.ticket_id)
        if entry is None or entry.place != admission.place:
            return NotAdmitted("queue_pass: not a queue pass of ours")
        return NotAdmitted("Your admission expired before you reserved", place=admission.place)

    def give_back(self, admission: Admission, ticket_id: int) -> None:
        """The admission a reservation used whose checkout never opened (the reservation released):
        the buyer may reserve again within its window. Quiet: the checkout's own error is the one to
        report, and an admission left used costs the buyer this one attempt, never a seat."""
        try:
            given = self._store.give_back(admission, ticket_id)
        except Exception:
            logger.exception("Could not give a queue admission back", extra={"event_id": admission.event_id, "ticket_id": ticket_id})
            return
        if given:
            audit("queue.admission_given_back", user_id=admission.owner, event_id=admission.event_id, ticket_id=ticket_id)

    # the admitter --------------------------------------------------------------------------------
    def admit_once(self, report: AdmitterReport | None = None) -> AdmitterReport:
        """One step of every active queue: read its state, the seats left, the places handed out
        and the uses of its open epochs; move the watermark; write it conditioned on the state read
        (a second admitter running meanwhile makes this write fail, never admits twice)."""
        report = report or AdmitterReport()
        report.ticks += 1
        queues = self._store.active_queues()
        report.active = len(queues)
        for event_id in queues:
            # One queue's failure (a throttled read of its hot state at its on-sale) is that queue's:
            # logged and counted, and the run goes on to the other queues and to its next step.
            try:
                self._step(event_id, report)
            except Exception:
                report.failures += 1
                metrics.count("QueueAdmitterStepFailures")
                logger.exception("A queue's admitter step failed; the other queues go on", extra={"event_id": event_id})
        return report

    def _step(self, event_id: int, report: AdmitterReport) -> None:
        """One queue's step: its state, seats left, places handed and uses read; the watermark moved,
        written conditioned on the state read."""
        now = self._now_ms()
        event = self._events(event_id)
        if event is None or sale_refusal(event, now // 1000) is not None:
            # Not on sale (before it opens, paused, closed): nobody is admitted, so that no admission
            # lapses where it cannot be used; the places keep their turn for when the sale opens.
            return
        state = self._store.state(event_id)
        handed = self._store.handed(event_id)
        after = advance(
            state,
            now_ms=now,
            seats_left=self._seats_left(event_id),
            handed=handed,
            used_by_epoch=self._store.used(event_id, sorted(state.epochs)),
            policy=self._policy,
        )
        if moved(state, after):
            if not self._store.save(event_id, state, after):
                report.conflicts += 1
                logger.info("Another admitter moved the queue meanwhile", extra={"event_id": event_id})
                return
            report.writes += 1
            epoch = step_time_ms(state, now) // EPOCH_MS  # the step's holes are counted in its epoch
            report.admitted += after.admitted_to - state.admitted_to - after.holes.get(epoch, 0) + state.holes.get(epoch, 0)
            report.events.add(event_id)
        # The places admitted that nobody held are closed: no later joiner gets one (also after a
        # run that stopped between its two writes).
        below = {counter: floor for counter, floor in counter_floors(after.admitted_to).items() if handed.get(counter, 0) < floor}
        if below and handed:
            self._store.close_places(event_id, below)

    def admit_for(self, seconds: float, step_seconds: float = 1.0) -> AdmitterReport:
        """Steps every ``step_seconds`` for ``seconds``: the scheduled run's minute. Returns at once
        when no event has a queue."""
        report = AdmitterReport()
        end = self._clock() + seconds
        while True:
            started = self._clock()
            self.admit_once(report)
            if not report.active or started + step_seconds >= end:
                return report
            self._sleep(max(0.0, started + step_seconds - self._clock()))
