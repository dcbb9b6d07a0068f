"""Webhook delivery for the local providers, as disorderly as the real ones.

Stripe and PayPal promise no order: they deliver concurrently, retry a failed delivery later while
the others go on, and may deliver one event more than once (Stripe: docs.stripe.com/webhooks,
"Event ordering" and "Handle duplicate events"; PayPal retries a delivery that did not answer 2xx
up to 25 times over three days). So here each event waits a random moment before its first attempt,
is sent by one of several workers, is sometimes sent twice, and a failed attempt goes back into the
schedule with backoff instead of holding back the events behind it.

Every random choice about an event comes from the seed and the event's position in sending order
(``Disorder.plan``), never from thread timing, so a failing run is replayed by setting
``WEBHOOK_DISORDER_SEED`` to the seed it printed. ``WEBHOOK_DISORDER_SEED=ordered`` restores the
old, kind behaviour (one at a time, in order, never twice) for a debugging session."""

from __future__ import annotations

import functools
import heapq
import itertools
import os
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import requests

SEED_VARIABLE = "WEBHOOK_DISORDER_SEED"
ORDERED = "ordered"

# headers for one attempt: a provider that signs each attempt anew (Stripe) gives a callable
Headers = dict[str, str] | Callable[[], dict[str, str]]
# posts one attempt and answers the HTTP status (tests deliver in-process)
Transport = Callable[[bytes, dict[str, str]], int]


@dataclass(frozen=True)
class Plan:
    """What happens to one event: the delay of each of its deliveries (two when it is duplicated)
    and the waits between its retries."""

    delays: tuple[float, ...]
    backoff: tuple[float, ...]


@dataclass(frozen=True)
class Disorder:
    seed: int | None  # None: in order, one at a time, never twice
    max_delay: float = 0.4  # seconds an event may wait before its first attempt
    duplicate_rate: float = 0.25
    workers: int = 4
    attempts: int = 5
    first_retry: float = 0.25  # doubled on each further retry, with jitter

    @property
    def ordered(self) -> bool:
        return self.seed is None

    @classmethod
    def from_environment(cls) -> Disorder:
        """The seed ``WEBHOOK_DISORDER_SEED`` names, or a new one (printed by whoever starts the run)."""
        text = os.environ.get(SEED_VARIABLE, "").strip()
        if text.lower() == ORDERED:
            return cls(seed=None, workers=1)
        if text and not text.isdigit():
            raise ValueError(f"{SEED_VARIABLE} is a seed (digits) or '{ORDERED}', not {text!r}")
        return cls(seed=int(text) if text else secrets.randbelow(2**31))

    def describe(self) -> str:
        if self.ordered:
            return f"webhooks in order, one at a time ({SEED_VARIABLE}={ORDERED})"
        return f"webhooks out of order, concurrent, sometimes twice ({SEED_VARIABLE}={self.seed} reproduces)"

    def plan(self, stream: str, sequence: int) -> Plan:
        """The choices for the ``sequence``-th event of ``stream`` (one stream per provider)."""
        if self.seed is None:
            return Plan((0.0,), tuple(self.first_retry * 2**attempt for attempt in range(self.attempts - 1)))
        rng = random.Random(f"{self.seed}:{stream}:{sequence}")  # noqa: S311 - reproducible on purpose, not secret
        copies = 2 if rng.random() < self.duplicate_rate else 1
        delays = tuple(sorted(rng.uniform(0, self.max_delay) for _ in range(copies)))
        backoff = tuple(self.first_retry * 2**attempt * rng.uniform(0.5, 1.5) for attempt in range(self.attempts - 1))
        return Plan(delays, backoff)


@functools.cache
def default_disorder() -> Disorder:
    """One disorder per process, so that both fakes of a local stack share the seed it prints."""
    return Disorder.from_environment()


@dataclass(order=True)
class _Attempt:
    due: float
    order: int
    sequence: int = field(compare=False)
    payload: bytes = field(compare=False)
    headers: Headers = field(compare=False)
    backoff: tuple[float, ...] = field(compare=False)
    attempt: int = field(default=0, compare=False)


class WebhookSender:
    """Delivers to ``url`` (or through ``transport``) as ``disorder`` says; ``drain`` waits until
    every delivery was made or given up on."""

    def __init__(self, url: str, disorder: Disorder | None = None, stream: str = "", transport: Transport | None = None) -> None:
        self.url = url
        self.disorder = disorder or default_disorder()
        self.stream = stream or url
        self._transport = transport or self._post
        self._schedule: list[_Attempt] = []
        self._ready = threading.Condition()
        self._sequence = itertools.count()
        self._order = itertools.count()
        self._unfinished = 0
        self._closed = False
        # (sequence, attempt, status or None) of every attempt, for tests and for reading a run back
        self.log: list[tuple[int, int, int | None]] = []
        for _ in range(self.disorder.workers):
            threading.Thread(target=self._run, daemon=True).start()

    def send(self, payload: bytes, headers: Headers) -> int:
        """Schedules the event's deliveries; answers its sequence number."""
        with self._ready:
            sequence = next(self._sequence)
            plan = self.disorder.plan(self.stream, sequence)
            now = time.monotonic()
            for delay in plan.delays:
                self._push(_Attempt(now + delay, 0, sequence, payload, headers, plan.backoff))
            self._ready.notify_all()
        return sequence

    def drain(self, timeout: float = 30.0) -> bool:
        """Waits until every scheduled delivery was made (or given up on)."""
        deadline = time.monotonic() + timeout
        with self._ready:
            while self._unfinished:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._ready.wait(min(left, 0.05))
        return True

    def close(self) -> None:
        """Its workers stop once nothing is left to deliver."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    def _push(self, attempt: _Attempt) -> None:
        attempt.order = next(self._order)  # ties in `due` keep scheduling order
        heapq.heappush(self._schedule, attempt)
        self._unfinished += 1

    def _next_due(self) -> _Attempt | None:
        with self._ready:
            while True:
                if self._schedule:
                    wait = self._schedule[0].due - time.monotonic()
                    if wait <= 0:
                        return heapq.heappop(self._schedule)
                    self._ready.wait(wait)
                elif self._closed and not self._unfinished:
                    return None
                else:
                    self._ready.wait()

    def _run(self) -> None:
        while (attempt := self._next_due()) is not None:
            headers = attempt.headers() if callable(attempt.headers) else attempt.headers
            try:
                status: int | None = self._transport(attempt.payload, headers)
            except Exception:  # an endpoint that fails in any way is a failed delivery, retried later
                status = None
            with self._ready:
                self.log.append((attempt.sequence, attempt.attempt, status))
                failed = status is None or status >= 300
                if failed and attempt.attempt < len(attempt.backoff):
                    # Retried later; the events behind it go on meanwhile.
                    due = time.monotonic() + attempt.backoff[attempt.attempt]
                    self._push(replace(attempt, due=due, attempt=attempt.attempt + 1))
                self._unfinished -= 1
                self._ready.notify_all()

    def _post(self, payload: bytes, headers: dict[str, str]) -> int:
        return requests.post(self.url, data=payload, headers=headers, timeout=30).status_code
