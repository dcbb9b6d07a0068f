"""The queue's status without AWS (issue 27, "sold out" within 5 s): one answer for every waiting
buyer of an event, shaped from a copy of the queue's state (payments.domain.admission.queue_status),
asked with any buyer's pass of that event (read_event_pass), and nothing read for a request without one."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from payments.auth import Caller
from payments.domain.admission import (
    STATUS_POLL_MS,
    AdmissionPolicy,
    PassRefused,
    QueuePass,
    QueueState,
    QueueStatus,
    queue_status,
    read_event_pass,
    sign_pass,
)
from payments.domain.lifecycle import Event
from payments.domain.queue import QueueService
from payments.errors import Forbidden, NotFound
from tests.support.lifecycle_world import NOW
from tests.support.memory_stores import MemoryStores

KEY = b"queue-pass-key-of-the-status"
START = NOW * 1000
POLICY = AdmissionPolicy(rate_per_second=25, window_ms=180_000)


def signed(**changes: object) -> str:
    fields = {"event_id": 15, "owner": "user-alice", "place": 42, "expires_ms": START + 60_000} | changes
    return sign_pass(KEY, QueuePass(**fields))  # type: ignore[arg-type]


# shaping -------------------------------------------------------------------------------------------
def test_the_status_is_the_states_watermark_sold_out_and_seat_bound_with_the_rate_and_a_constant_hint():
    state = QueueState(admitted_to=1200, lapsed_to=300, sold_out=True, seat_bound=True, updated_ms=START, seats_left=0, handed_to=9000)
    assert queue_status(15, state, POLICY) == QueueStatus(
        event_id=15,
        admitted_to=1200,
        sold_out=True,
        seat_bound=True,
        admission_rate_per_second=25,
        updated_ms=START,
        poll_after_ms=2000,
    )
    # The same for every buyer: nothing of a place, a pass or an account in it.
    assert set(vars(queue_status(15, state, POLICY))) == {
        "event_id",
        "admitted_to",
        "sold_out",
        "seat_bound",
        "admission_rate_per_second",
        "updated_ms",
        "poll_after_ms",
    }
    # However long the queue: every waiting page polls it every 2 s (the CDN answers; no budget to share).
    assert queue_status(15, QueueState(handed_to=200_000), POLICY).poll_after_ms == STATUS_POLL_MS == 2000


# the pass it asks for --------------------------------------------------------------------------------
def test_any_buyers_unexpired_pass_of_the_event_opens_the_status():
    assert read_event_pass(KEY, signed(), event_id=15, now_ms=START) == QueuePass(15, "user-alice", 42, START + 60_000)
    assert read_event_pass(KEY, signed(owner="user-bob", place=7), event_id=15, now_ms=START).owner == "user-bob"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        pytest.param(lambda: signed()[:-2] + ("AA" if not signed().endswith("AA") else "BB"), "not a queue pass of ours", id="signature"),
        pytest.param(
            lambda: sign_pass(b"another key", QueuePass(15, "user-alice", 1, START + 60_000)), "not a queue pass of ours", id="key"
        ),
        pytest.param(lambda: "not-a-pass", "not a queue pass of ours", id="shape"),
        pytest.param(lambda: signed(event_id=16), "a queue pass of another event", id="event"),
        pytest.param(lambda: signed(expires_ms=START), "expired; ask for your place again for a new one", id="expired"),
    ],
)
def test_a_forged_foreign_or_expired_pass_does_not_open_the_status(token, reason):
    with pytest.raises(PassRefused) as refused:
        read_event_pass(KEY, token(), event_id=15, now_ms=START)
    assert refused.value.reason == reason


# the service -----------------------------------------------------------------------------------------
class CountingQueues:
    """The in-memory queue store, counting what is read."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.reads: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.reads.append(name)
        return getattr(self.inner, name)


def service(stores: MemoryStores, queues: Any, events: Any = None) -> QueueService:
    tickets = stores.tickets
    return QueueService(
        events or tickets.get_event,
        lambda event_id: sum(tickets.availability(event_id).values()),
        queues,
        lambda: KEY,
        POLICY,
        60,
        clock=lambda: NOW,
    )


def queued(stores: MemoryStores) -> int:
    tickets = stores.tickets
    event_id = tickets.next_id("event")
    tickets.put_event(Event(event_id, "On-sale", Decimal("25.00"), "eur", 1, 1, "staff-1", NOW, on_sale_queue=True))
    return event_id


def test_the_status_reads_one_copy_of_the_state_and_never_the_event():
    stores = MemoryStores()
    event_id = queued(stores)
    queue = service(stores, stores.queues)
    joined = queue.join(Caller("user-alice", frozenset()), event_id)
    queue.admit_once()
    counting = CountingQueues(stores.queues)
    events_read: list[int] = []
    status = service(stores, counting, events=events_read.append).status(event_id, joined.queue_pass)
    assert (status.event_id, status.admitted_to, status.sold_out) == (event_id, 1, False)
    assert counting.reads == ["view"] and events_read == []


@pytest.mark.parametrize(
    ("token", "error"),
    [
        pytest.param(lambda event_id: None, "queue_pass: required (send the queue_status_url of your join or place answer)", id="missing"),
        pytest.param(lambda event_id: "", "queue_pass: required (send the queue_status_url of your join or place answer)", id="empty"),
        pytest.param(lambda event_id: "x.y", "queue_pass: not a queue pass of ours", id="forged"),
        pytest.param(
            lambda event_id: sign_pass(KEY, QueuePass(event_id, "user-alice", 1, START)),
            "queue_pass: expired; ask for your place again for a new one",
            id="expired",
        ),
        pytest.param(
            lambda event_id: sign_pass(KEY, QueuePass(event_id + 1, "user-alice", 1, START + 60_000)),
            "queue_pass: a queue pass of another event",
            id="other-event",
        ),
    ],
)
def test_a_status_asked_without_a_good_pass_is_403_and_reads_nothing(token, error):
    stores = MemoryStores()
    event_id = queued(stores)
    counting = CountingQueues(stores.queues)
    with pytest.raises(Forbidden) as refused:
        service(stores, counting).status(event_id, token(event_id))
    assert refused.value.message == error
    assert counting.reads == []


def test_the_status_of_an_event_without_a_queue_is_404():
    stores = MemoryStores()
    with pytest.raises(NotFound) as missing:
        service(stores, stores.queues).status(99, sign_pass(KEY, QueuePass(99, "user-alice", 1, START + 60_000)))
    assert missing.value.message == "This event has no queue"
