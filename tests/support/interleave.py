"""Two requests interleaved at their store calls, in an order the test chooses.

Each request runs in a thread of its own, but only one thread runs at a time: a request runs until
it is about to call a store, hands the turn back, and waits until the schedule gives it the turn
again; then its call goes ahead. The schedule (a list of 0s and 1s, drawn by the test) names, at
each turn, which of the requests still running goes next. The same schedule gives the same
interleaving every time, so a failure found this way replays and shrinks like any other.

A store is anything whose method calls are the points where another request may come in: a DynamoDB
client (``InterleavingClient``: a turn at every request to DynamoDB), or the in-memory twins of the
store ports (``Interleaving.wrap``: a turn at every port call; a port call is atomic in memory, as one
DynamoDB request is atomic, so a port that makes several DynamoDB requests interleaves more finely
over moto than in memory). One ``Interleaving`` may wrap several stores: they share its turns."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

# A request that neither finishes nor reaches its next store call within this long is stuck (a
# deadlock between the two would otherwise hang the test run).
STUCK_SECONDS = 60.0


@dataclass
class Interleaved:
    """What each request answered (or raised), by name, and the store calls in the order they ran."""

    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, BaseException] = field(default_factory=dict)
    trace: list[tuple[str, str]] = field(default_factory=list)

    def overlapped(self) -> bool:
        """Whether the requests' store calls really interleaved (one request called a store between
        two calls of the other), rather than one running wholly before the other."""
        runs = [name for index, (name, _) in enumerate(self.trace) if index == 0 or self.trace[index - 1][0] != name]
        return len(runs) > len(set(runs))


class Interleaving:
    """The turns: ``wrap`` a store so that its calls from a thread ``run`` started wait for their
    turn; calls from any other thread (the test's own reads) go straight through."""

    def __init__(self) -> None:
        self._turns = threading.Condition()
        self._turn: str | None = None
        self._local = threading.local()
        self._trace: list[tuple[str, str]] | None = None

    def wrap(self, store: Any) -> Any:
        return _Turns(self, store)

    def before_call(self, operation: str) -> None:
        me = getattr(self._local, "name", None)
        if me is not None:
            self._hand_back(me)
            if self._trace is not None:
                self._trace.append((me, operation))

    def _hand_back(self, me: str) -> None:
        with self._turns:
            self._turn = None
            self._turns.notify_all()
            if not self._turns.wait_for(lambda: self._turn == me, timeout=STUCK_SECONDS):
                raise TimeoutError(f"request {me} never got its turn back")

    def run(self, requests: dict[str, Callable[[], Any]], schedule: Sequence[int]) -> Interleaved:
        """Runs the requests to their ends; at each turn the next number of ``schedule`` (0 when it
        runs out) picks among the requests still running, in the order given."""
        outcome = Interleaved()
        names = list(requests)
        done: set[str] = set()

        def body(name: str, request: Callable[[], Any]) -> None:
            self._local.name = name
            try:
                with self._turns:
                    if not self._turns.wait_for(lambda: self._turn == name, timeout=STUCK_SECONDS):
                        raise TimeoutError(f"request {name} never started")
                outcome.results[name] = request()
            except BaseException as error:  # reported to the test, which decides
                outcome.errors[name] = error
            finally:
                self._local.name = None
                with self._turns:
                    done.add(name)
                    self._turn = None
                    self._turns.notify_all()

        threads = [threading.Thread(target=body, args=(name, request), daemon=True) for name, request in requests.items()]
        self._trace = outcome.trace
        for thread in threads:
            thread.start()
        turns = iter(schedule)
        try:
            with self._turns:
                while len(done) < len(names):
                    running = [name for name in names if name not in done]
                    self._turn = running[next(turns, 0) % len(running)]
                    self._turns.notify_all()
                    if not self._turns.wait_for(lambda: self._turn is None, timeout=STUCK_SECONDS):
                        raise TimeoutError(f"request {self._turn} is stuck between two store calls")
        finally:
            self._trace = None
            for thread in threads:
                thread.join(timeout=STUCK_SECONDS)
        return outcome


class _Turns:
    """A store whose method calls wait for their turn."""

    def __init__(self, interleaving: Interleaving, store: Any) -> None:
        self._interleaving = interleaving
        self._store = store

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self._interleaving.before_call(name)
            return attribute(*args, **kwargs)

        return call


class InterleavingClient(_Turns):
    """A DynamoDB client whose requests wait for their turn, with turns of its own (``run``)."""

    def __init__(self, client: Any) -> None:
        self.interleaving = Interleaving()
        super().__init__(self.interleaving, client)

    def run(self, requests: dict[str, Callable[[], Any]], schedule: Sequence[int]) -> Interleaved:
        return self.interleaving.run(requests, schedule)
