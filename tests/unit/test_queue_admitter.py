"""The admitter's report and its signals, over the in-memory stores: the scheduled run's summary
(``admit_event_queues`` logs it) counts buyers admitted, not places nobody holds; every lost write
and every failed step is counted; a queue whose step fails is named in its log line and counted in
``QueueAdmitterStepFailures`` (the alarm's metric), and the other queues go on."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from payments import metrics
from payments.auth import Caller
from payments.domain.admission import AdmissionPolicy, QueueState
from payments.domain.lifecycle import Event
from payments.domain.queue import QueueService
from tests.support.memory_stores import MemoryQueueStore, MemoryStores

NOW = 1_800_000_000
POLICY = AdmissionPolicy(rate_per_second=25, window_ms=30_000)


class Queues(MemoryQueueStore):
    """The memory twin, with one queue's state unreadable and every write lost if asked."""

    def __init__(self, stores: MemoryStores, unreadable: int | None = None, lose_writes: bool = False) -> None:
        # A join within the quiet time compares counters 2 and 3: the second buyer takes place 3,
        # leaving place 2 to nobody (a hole), as a counter behind the others does.
        super().__init__(stores.tickets, draw=lambda counters: 2)
        self.unreadable = unreadable
        self.lose_writes = lose_writes

    def state(self, event_id: int) -> QueueState:
        if event_id == self.unreadable:
            raise RuntimeError("ProvisionedThroughputExceededException")
        return super().state(event_id)

    def save(self, event_id: int, read: QueueState, new: QueueState) -> bool:
        return False if self.lose_writes else super().save(event_id, read, new)


def world(events: int = 1, lose_writes: bool = False) -> tuple[QueueService, Queues, list[int]]:
    stores = MemoryStores()
    store = Queues(stores, lose_writes=lose_writes)
    ids = []
    for _ in range(events):
        event = Event(stores.tickets.next_id("event"), "On-sale", Decimal("25.00"), "eur", 100, 100, "staff-1", NOW, on_sale_queue=True)
        stores.tickets.put_event(event)
        ids.append(event.event_id)
    service = QueueService(stores.tickets.get_event, lambda event_id: 100, store, lambda: b"key", POLICY, 60, clock=lambda: NOW + 1.0)
    return service, store, ids


def two_buyers_and_a_hole(service: QueueService, event_id: int) -> None:
    places = [service.join(Caller(user, frozenset()), event_id).place for user in ("user-a", "user-b")]
    assert places == [1, 3]


def test_the_report_counts_the_buyers_admitted_not_the_place_nobody_holds() -> None:
    service, store, [event_id] = world()
    two_buyers_and_a_hole(service, event_id)
    report = service.admit_once()
    assert store.state(event_id).admitted_to == 3
    assert (report.admitted, report.writes, report.conflicts, report.failures, report.events) == (2, 1, 0, 0, {event_id})


def test_every_write_another_admitter_won_is_counted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    service, _, events = world(events=2, lose_writes=True)
    for event_id in events:
        two_buyers_and_a_hole(service, event_id)
    report = service.admit_once()
    assert (report.conflicts, report.writes, report.admitted) == (2, 0, 0)
    lost = [(r.getMessage(), getattr(r, "event_id", None)) for r in caplog.records if "admitter" in r.getMessage()]
    assert lost == [("Another admitter moved the queue meanwhile", event_id) for event_id in events]
    assert service.admit_once(report).conflicts == 4  # the scheduled run's minute adds up its steps


def test_a_queue_whose_step_fails_is_logged_and_counted_and_the_others_go_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    counted: list[str] = []
    monkeypatch.setattr(metrics, "count", lambda name, value=1: counted.append(name))
    caplog.set_level(logging.INFO)
    service, store, [broken, working] = world(events=2)
    two_buyers_and_a_hole(service, working)
    store.unreadable = broken
    report = service.admit_once()
    assert (report.failures, report.admitted, report.events) == (1, 2, {working})
    assert counted == ["QueueAdmitterStepFailures"]
    [failed] = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert (failed.getMessage(), failed.__dict__["event_id"]) == ("A queue's admitter step failed; the other queues go on", broken)
