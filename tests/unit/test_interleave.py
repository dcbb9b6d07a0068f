"""The money model's interleaving (tests/support/interleave.py): two requests whose store calls run
in the order a schedule names, the same order every time, over any store it wraps. A turn lets a
request run up to its next store call; that call goes ahead at the request's next turn (so the
schedule's first two numbers start the two requests)."""

from __future__ import annotations

from typing import Any

from tests.support.interleave import Interleaving


class Store:
    """A store that records the calls it answered, in order."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def read(self, who: str) -> str:
        self.calls.append(f"{who} read")
        return who

    def write(self, who: str) -> str:
        self.calls.append(f"{who} write")
        return who


def two_requests(store: Any) -> dict[str, Any]:
    def request(who: str) -> Any:
        return lambda: (store.read(who), store.write(who))

    return {"A": request("A"), "B": request("B")}


def test_the_schedule_orders_the_store_calls_and_replays() -> None:
    traces = []
    for _ in range(3):
        interleaving, store = Interleaving(), Store()
        outcome = interleaving.run(two_requests(interleaving.wrap(store)), [0, 1, 0, 1, 0, 1])
        assert store.calls == ["A read", "B read", "A write", "B write"]
        assert outcome.results == {"A": ("A", "A"), "B": ("B", "B")}
        assert outcome.overlapped()
        traces.append(outcome.trace)
    assert traces[0] == traces[1] == traces[2] == [("A", "read"), ("B", "read"), ("A", "write"), ("B", "write")]


def test_one_request_wholly_before_the_other_is_not_an_overlap() -> None:
    interleaving, store = Interleaving(), Store()
    outcome = interleaving.run(two_requests(interleaving.wrap(store)), [1, 1, 1])
    assert store.calls == ["B read", "B write", "A read", "A write"]
    assert not outcome.overlapped()


def test_stores_wrapped_by_one_interleaving_share_its_turns() -> None:
    interleaving, first, second = Interleaving(), Store(), Store()
    wrapped_first, wrapped_second = interleaving.wrap(first), interleaving.wrap(second)
    outcome = interleaving.run(
        {
            "A": lambda: (wrapped_first.read("A"), wrapped_second.write("A")),
            "B": lambda: (wrapped_second.read("B"), wrapped_first.write("B")),
        },
        [0, 1, 0, 1, 1, 0],
    )
    assert outcome.trace == [("A", "read"), ("B", "read"), ("B", "write"), ("A", "write")]
    assert first.calls == ["A read", "B write"] and second.calls == ["B read", "A write"]


def test_calls_from_outside_a_run_go_straight_through() -> None:
    interleaving, store = Interleaving(), Store()
    assert interleaving.wrap(store).read("test") == "test"
    assert store.calls == ["test read"]
