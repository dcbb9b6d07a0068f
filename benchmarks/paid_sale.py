"""A paid on-sale through the on-sale queue, simulated in virtual time with the real code: buyers
join the queue (``QueueService.join``), the admitter steps once a virtual second
(``QueueService.admit_once``, hence ``payments.domain.admission.advance``), admitted buyers reserve
(``TicketService.purchase`` with their queue pass) and open a Checkout Session through the real
``StripeGateway`` (its backoff on 429 included), against the flash-sale model's contended DynamoDB
stand-in (``benchmarks.flash_sale.ContendedDynamoDB``: per-partition-key write and read ceilings,
transaction conflicts) and a Stripe stand-in that answers 429 as Stripe does.

What is modelled, besides the flash-sale model's DynamoDB:

- **Stripe** (``StripeStandIn``): per endpoint at most ``--stripe-rate`` requests in any sliding
  second (Checkout Session creation; Stripe's default 25), and the account at most 100 requests in
  any sliding second (live mode). Beyond either, the request is refused with ``stripe.RateLimitError``
  (HTTP 429), which the gateway backs off from (``with_backoff``, 6 s budget, in virtual time) and
  then raises as ``ProviderUnavailable``: our 503 with ``Retry-After``. A refused request is not
  counted in the window (Stripe does not document whether it is). A paid session costs the account
  2 more requests at payment time, at worst (``FOLLOW_UPS``: verify's read of the session and the
  settlement's list of its refunds, each on its own endpoint), not run through the code: they
  share the account's 100 a second.
- **API Gateway** route throttles (token buckets, rate and burst, template.yaml's defaults): join
  4,000 (4,000), poll 4,000 (4,000), purchase ``StripeSessionRate`` (its burst too). Beyond them,
  429 before any function runs; the buyer tries again a second later (a refused join keeps the
  time of its first try as the buyer's arrival: an inversion if it is placed behind later arrivals).
- **Lambda**: per function at most 1,000 new environments in any 10 s, and the account at most
  1,000 running at once; a request that finds neither a free environment nor room for a new one is
  refused with 429 (modelled so; API Gateway's answer to a throttled integration is a 5xx in some
  configurations). A new environment adds ``--cold-start-ms`` to its first request. Polls are not
  run: 4,000 a second of two 3 ms reads take about 24 environments, left out of the account's 1,000.
- **Buyers**: join at a time drawn uniformly within ``--arrival-seconds``; while waiting, follow the
  queue's status (``QueueService.status``'s answer, its ``poll_after_ms``: 2 s) at CloudFront, which
  keeps one copy per edge location for ``CACHE_SECONDS`` (max-age=1) and refreshes it from the
  origin as it expires (a busy edge: at once), at a phase drawn per buyer's edge; a change (an
  admission, "sold out") is heard at the first poll whose copy was fetched after the admitter's step
  (``_status_heard``). The origin sees one request a second per edge location (``EDGE_LOCATIONS``,
  assumed), whatever the buyers. An admitted buyer, having heard it, asks for their own place once
  (the poll route, far under its throttle: one per admission, and one per pass refresh), then takes
  2 to 20 s (uniform) to reserve; ``--abandon`` of them never
  reserve (10%: an assumption, as in ``benchmarks.queue_sale``; no figure of ours measures it). A
  reservation refused with 503 is retried after its ``Retry-After``, one refused at the edge (429)
  a second later, within the admission's window. One seat, or two one time in five. Reservations
  are not paid nor expired within the run (the sale sells out before 31 minutes, the shortest
  Checkout Session), so seats do not come back.

Printed per row (Stripe's endpoint rate, the admitter's rate, the purchase route's rate and burst,
whether session creation is paced by the real ``payments.domain.pacing.SessionPacer``, its slots
items of the contended table): seats sold, oversold, 5xx; Stripe's 429s on session creation, on
the follow-ups and from the account's limit; our 503s and
those of them without Retry-After; the edge's 429s (purchase route, join route, Lambda); admitted
buyers who found too few seats (400); the join's answer time p99 (from the first try); admissions
out of arrival order beyond ``--tie-seconds``; when the last seat was taken, against Stripe's bound
(the sessions the sale took, at Stripe's rate) and the excess; how long after the last seat the
waiting buyers heard "sold out" (p99, max); the most sessions opened in one calendar second; the
most write and read units one partition key took in one second. Then, per row, the requests the
waiting buyers made (the status at CloudFront and at the origin, their own places), "sold out" heard
at full size through the status (against issue 27's 5 s) and, for comparison, through each buyer's
own place at its hint (as before the status existed), and Stripe's side alone at full size
(``stripe_account_load``).

    python -m benchmarks.paid_sale [--seats 2000] [--buyers 8000] [--rows 25:25:25:25 ...]

Exits 1 on any oversell or 5xx.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import functools
import heapq
import os
import random
import sys
import types
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import boto3
import stripe
from moto import mock_aws

from benchmarks.flash_sale import ENVIRONMENT, TABLES, ContendedDynamoDB, VirtualClock, oversold
from local import moto_patches
from local.template import create_tables
from tests.support.moto_direct import MotoDirect

SESSIONS_CREATE = "checkout.sessions.create"
SESSIONS_RETRIEVE = "checkout.sessions.retrieve"
ACCOUNT_RATE = 100  # Stripe's live-mode requests a second per account
REFUNDS_LIST = "refunds.list"
# The Stripe requests a paid session costs later, as payments.domain.tickets makes them, at worst:
# verify before the webhook reads the session, and the settlement lists the payment's refunds (a
# refund made before we heard of the payment); the webhook then finds the ticket paid and asks
# nothing. The webhook first: its settlement's list alone, and verify answers from the ticket.
FOLLOW_UPS = (SESSIONS_RETRIEVE, REFUNDS_LIST)
PASS_KEY = b"paid-sale-model-queue-pass-key-32"
THINK_SECONDS = (2.0, 20.0)
PAY_SECONDS = (60.0, 300.0)
EPOCH = 1_800_000_000  # the virtual clock's second 0, as a Unix time
# template.yaml's route throttles (rate, burst), for the queue's two routes.
JOIN_ROUTE = (4000, 4000)
# The queue's status (docs/on-sales.md#the-queues-status): CloudFront keeps each edge's copy this
# long (Cache-Control max-age=1, the cache policy's MaxTTL), and the origin sees about one request
# per copy's life per edge location with buyers. CloudFront has more than 600 points of presence
# (AWS's figure; requests may also pass a regional edge cache, which would lower the origin's share):
# assumed 600, each with buyers, the most the origin would see.
CACHE_SECONDS = 1.0
EDGE_LOCATIONS = 600
# Issue 27's goal: everyone still waiting hears "sold out" within 5 s of the last seat (p99 here).
SOLD_OUT_GOAL_SECONDS = 5.0
# A page asks for its own place when its pass has this long left (demo/app.js), for a fresh one.
PASS_MARGIN_SECONDS = 60
NEW_ENVIRONMENTS_PER_10_S = 1000
ACCOUNT_CONCURRENCY = 1000


class SlidingLimit:
    """At most ``limit`` accepted requests in any window of one second, in virtual time; requests may
    be offered out of time order (a buyer's backoff runs ahead of buyers handled after it), so a
    request is accepted only if every one-second window containing it stays within the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.times: list[float] = []

    def admit(self, at: float) -> bool:
        low = bisect.bisect_right(self.times, at - 1.0)
        high = bisect.bisect_left(self.times, at + 1.0)
        near = self.times[low:high]
        # The windows (s - 1, s] holding ``at`` are s in [at, at + 1): the most accepted in one of them.
        ends = [at] + [t for t in near if t > at]
        if any(sum(1 for t in near if end - 1.0 < t <= end) + 1 > self.limit for end in ends):
            return False
        bisect.insort(self.times, at)
        while self.times and self.times[0] < at - 30.0 and len(self.times) > 4 * self.limit:
            self.times.pop(0)  # long past: cannot share a window with any later request
        return True


class StripeStandIn:
    """What ``StripeGateway`` calls on the SDK's client (``v1.checkout.sessions.create``), answering
    429 (``stripe.RateLimitError``) beyond the endpoint's or the account's sliding-second limit, as
    Stripe does; every refusal counted by which limit refused it."""

    def __init__(self, clock: VirtualClock, endpoint_rate: int, account_rate: int = ACCOUNT_RATE) -> None:
        self.clock = clock
        self.endpoint_rate = endpoint_rate
        self.endpoints: dict[str, SlidingLimit] = defaultdict(lambda: SlidingLimit(endpoint_rate))
        self.account = SlidingLimit(account_rate)
        self.counts: Counter[str] = Counter()
        self.per_second: Counter[tuple[str, int]] = Counter()
        self.v1 = types.SimpleNamespace(checkout=types.SimpleNamespace(sessions=self))

    def request(self, endpoint: str, at: float) -> None:
        """One request at ``at``: accepted, or 429 (counted) from the first limit it would pass."""
        if not self.account.admit(at):
            self.counts["429 account"] += 1
            self.counts[f"429 {endpoint}"] += 1
            raise stripe.RateLimitError("Too many requests hit the API too quickly.", http_status=429, code="rate_limit")
        if not self.endpoints[endpoint].admit(at):
            self.account.times.remove(at)  # refused: not counted against the account either
            self.counts["429 endpoint"] += 1
            self.counts[f"429 {endpoint}"] += 1
            raise stripe.RateLimitError("Too many requests hit the API too quickly.", http_status=429, code="rate_limit")
        self.counts[endpoint] += 1
        self.per_second[(endpoint, int(at))] += 1

    def create(self, params: dict[str, Any], options: dict[str, Any]) -> Any:
        self.request(SESSIONS_CREATE, self.clock.now)
        session_id = f"cs_test_{options['idempotency_key'].rsplit('-', 1)[-1]}"
        body = {
            "id": session_id,
            "object": "checkout.session",
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "status": "open",
            "payment_status": "unpaid",
            "payment_intent": None,
            "client_reference_id": params["client_reference_id"],
            "metadata": params["metadata"],
            "amount_total": sum(line["price_data"]["unit_amount"] * line["quantity"] for line in params["line_items"]),
            "currency": params["line_items"][0]["price_data"]["currency"],
        }
        return types.SimpleNamespace(to_dict=lambda: body)

    def most_in_a_second(self, endpoint: str) -> int:
        return max((count for (name, _), count in self.per_second.items() if name == endpoint), default=0)


class TokenBucket:
    """An API Gateway route's throttle: ``rate`` a second, up to ``burst`` at once (times offered in order)."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst, self.tokens, self.at = rate, burst, burst, 0.0

    def take(self, at: float) -> bool:
        self.tokens = min(self.burst, self.tokens + max(0.0, at - self.at) * self.rate)
        self.at = max(self.at, at)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class Lambdas:
    """Lambda's scaling: environments per function (free at), new ones at most 1,000 in any 10 s per
    function, and at most 1,000 running at once in the account."""

    cold_start: float
    free: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    created: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    running: list[float] = field(default_factory=list)  # when each running request ends (a heap)
    environments: Counter[str] = field(default_factory=Counter)
    most_running: int = 0

    def start(self, function: str, at: float) -> float | None:
        """The extra latency of a request of ``function`` at ``at`` (a cold start or 0), or None: throttled."""
        while self.running and self.running[0] <= at:
            heapq.heappop(self.running)
        if len(self.running) >= ACCOUNT_CONCURRENCY:
            return None
        free = self.free[function]
        if free and free[0] <= at:
            heapq.heappop(free)
            return 0.0
        created = self.created[function]
        while created and created[0] <= at - 10.0:
            created.popleft()
        if len(created) >= NEW_ENVIRONMENTS_PER_10_S:
            return None
        created.append(at)
        self.environments[function] += 1
        return self.cold_start

    def end(self, function: str, at: float) -> None:
        heapq.heappush(self.free[function], at)
        heapq.heappush(self.running, at)
        self.most_running = max(self.most_running, len(self.running))


@dataclass
class PaidOutcome:
    stripe_rate: int
    admit_rate: int
    route: tuple[int, int]
    pace: bool
    seats: int
    buyers: int
    sold: int = 0
    orders: int = 0
    oversold: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    stripe: Counter[str] = field(default_factory=Counter)
    edge_429: Counter[str] = field(default_factory=Counter)
    join_seconds: list[float] = field(default_factory=list)
    inversions: int = 0
    sold_out_at: float | None = None
    heard_after: list[float] = field(default_factory=list)
    most_sessions_a_second: int = 0
    peak_write_units: tuple[int, str] = (0, "-")
    peak_read_units: tuple[int, str] = (0, "-")
    environments: Counter[str] = field(default_factory=Counter)
    most_running: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    admission_heard: list[float] = field(default_factory=list)  # from the step that admitted to the page showing it
    most_waiting: int = 0  # waiting buyers at the busiest step: each polls the status every poll_after_ms
    most_place_polls: float = 0.0  # own-place polls a second at the busiest step: admissions heard, passes renewed
    status_poll_seconds: float = 0.0  # the status answer's poll_after_ms (or the override)

    @property
    def five_xx(self) -> int:
        return sum(count for answer, count in self.answers.items() if answer.split()[-1].startswith("5") and not answer.endswith("503"))

    @property
    def bound_seconds(self) -> float:
        """What Stripe's rate allows: the sessions these orders took, at Stripe's rate."""
        return self.orders / self.stripe_rate


def _p99(values: list[float]) -> float:
    ordered = sorted(values) or [float("nan")]
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def run_paid_sale(
    seats: int,
    buyers: int,
    stripe_rate: int = 25,
    admit_rate: int | None = None,
    route: tuple[int, int] | None = None,
    arrival_seconds: float = 60.0,
    abandon: float = 0.1,
    completion_percent: int = 90,
    window_seconds: int = 180,
    shards: int = 16,
    cold_start: float = 0.3,
    tie: float = 0.1,
    seed: int = 27,
    planted: list[float] | None = None,
    pace: bool = False,
    warm_joins: int = 0,
    status_poll_ms: int | None = None,
    cache_seconds: float = CACHE_SECONDS,
) -> PaidOutcome:
    """The sale, inside ``mock_aws``. ``planted``: extra Checkout Session requests sent to the Stripe
    stand-in at these virtual times, outside any buyer (to check that its 429s are counted).
    ``status_poll_ms``: the waiting pages' status polls, instead of the status answer's own
    ``poll_after_ms`` (to see a slower page miss the goal); ``cache_seconds``: CloudFront's copy's life."""
    from payments import retries
    from payments.auth import Caller
    from payments.domain.admission import AdmissionPolicy, QueuePass, queue_status, sign_pass
    from payments.domain.events import EventService
    from payments.domain.pacing import SessionPacer
    from payments.domain.queue import QueueService
    from payments.domain.tickets import TicketService
    from payments.dynamodb import is_unavailable
    from payments.errors import ApiError
    from payments.models.common import validate
    from payments.models.tickets import CreateEventRequest, PurchaseRequest
    from payments.providers.stripe_gateway import StripeGateway
    from payments.repositories import tickets as tickets_repository
    from payments.repositories.queue import QueueRepository
    from payments.repositories.stripe_slots import StripeSlotRepository
    from payments.repositories.tickets import TicketRepository
    from payments.settings import Settings

    admit_rate = admit_rate or stripe_rate
    route = route or (stripe_rate, stripe_rate)
    draw = random.Random(seed)  # noqa: S311 - a reproducible simulation, not cryptography
    clock = VirtualClock()
    inner = boto3.client("dynamodb", region_name="eu-west-1")
    create_tables(inner, TABLES)
    client = ContendedDynamoDB(MotoDirect(), clock)
    settings = Settings.model_validate({**ENVIRONMENT, "STRIPE_SESSION_RATE_PER_SECOND": str(admit_rate)})
    stripe_api = StripeStandIn(clock, stripe_rate)
    outcome = PaidOutcome(stripe_rate, admit_rate, route, pace, seats, buyers)
    stock_time, stock_random, stock_secrets = retries.time, retries.random, tickets_repository.secrets  # type: ignore[attr-defined]
    vars(retries).update(time=types.SimpleNamespace(monotonic=clock.monotonic, sleep=clock.sleep), random=draw)
    starts = random.Random(seed + 1)  # noqa: S311 - where a purchase starts among the shards, reproducibly
    vars(tickets_repository).update(secrets=types.SimpleNamespace(randbelow=starts.randrange))
    try:
        tickets = TicketRepository(
            client,  # type: ignore[arg-type]
            TABLES["TicketsTable"],
            TABLES["PaymentsTable"],
        )
        policy = AdmissionPolicy(
            rate_per_second=admit_rate,
            window_ms=window_seconds * 1000,
            completion_percent=completion_percent,
            poll_budget_per_second=settings.queue_poll_budget_per_second,
        )

        def now() -> float:
            return EPOCH + clock.now

        queue = QueueService(
            tickets.get_event,
            lambda event_id: sum(tickets.availability(event_id).values()),
            QueueRepository(client, TABLES["TicketsTable"]),  # type: ignore[arg-type]
            lambda: PASS_KEY,
            policy,
            settings.queue_pass_seconds,
            clock=now,
            sleep=clock.sleep,
        )
        gateway: Any = StripeGateway(stripe_api)  # type: ignore[arg-type]
        # The real pacer (payments.domain.pacing), its slots items of the contended table: claimed
        # before the reservation, waited for in virtual time.
        slots = StripeSlotRepository(client, TABLES["TicketsTable"])  # type: ignore[arg-type]
        pacer = SessionPacer(slots, stripe_rate, clock=now, sleep=clock.sleep) if pace else None
        service = TicketService(tickets, lambda: gateway, settings, clock=now, queue=lambda: queue, pacer=pacer)
        staff = Caller(user_id="staff", groups=frozenset({settings.staff_group}))
        event = EventService(tickets).create(
            staff,
            validate(
                CreateEventRequest,
                {"name": "Paid on-sale", "price": 40, "currency": "usd", "capacity": seats, "seat_shards": shards, "on_sale_queue": True},
            ),
        )
        join_route, purchase_route = TokenBucket(*JOIN_ROUTE), TokenBucket(*route)
        lambdas = Lambdas(cold_start)
        lambdas.free["join"] = [0.0] * warm_joins  # provisioned before the sale (a heap of equal times)
        lambdas.environments["join (provisioned)"] = warm_joins
        # The buyers' journeys, in virtual time: (time, order, kind, buyer).
        heap: list[tuple[float, int, str, int]] = []
        order = 0

        def at(time: float, kind: str, buyer: int) -> None:
            nonlocal order
            order += 1
            heapq.heappush(heap, (time, order, kind, buyer))

        arrivals = sorted(draw.uniform(0, arrival_seconds) for _ in range(buyers))
        for buyer, arrival in enumerate(arrivals):
            at(arrival, "join", buyer)
        for time in planted or []:
            at(time, "planted", -1)
        at(0.0, "step", -1)
        place_of: dict[int, int] = {}
        buyer_at: dict[int, int] = {}
        admitted_places: list[int] = []
        waiting: set[int] = set()  # joined, not admitted yet
        admitted_at: dict[int, float] = {}
        done: set[int] = set()
        sold_out_step: float | None = None
        last_join = arrivals[-1] if arrivals else 0.0
        while heap:
            time, _, kind, buyer = heapq.heappop(heap)
            clock.now = time
            caller = Caller(user_id=f"buyer-{buyer}", groups=frozenset())
            if kind == "planted":
                with contextlib.suppress(stripe.RateLimitError):  # counted by the stand-in
                    stripe_api.request(SESSIONS_CREATE, time)
            elif kind.startswith("follow-up "):
                with contextlib.suppress(stripe.RateLimitError):  # counted by the stand-in
                    stripe_api.request(kind.removeprefix("follow-up "), time)
            elif kind == "join":
                if not join_route.take(time):
                    outcome.edge_429["join"] += 1
                    at(time + 1.0, "join", buyer)
                    continue
                extra = lambdas.start("join", time)
                if extra is None:
                    outcome.edge_429["lambda"] += 1
                    at(time + 1.0, "join", buyer)
                    continue
                clock.now = time + extra
                code, retry_after, answer = _answered(
                    functools.partial(queue.join, caller, event.event_id), ApiError, is_unavailable, outcome
                )
                lambdas.end("join", clock.now)
                outcome.answers[f"join {code}"] += 1
                if code == "503" and retry_after is not None:
                    at(clock.now + retry_after, "join", buyer)
                    continue
                if answer is None:
                    continue
                outcome.join_seconds.append(clock.now - arrivals[buyer])
                place_of[buyer], buyer_at[answer.place] = answer.place, buyer
                waiting.add(buyer)
            elif kind == "step":
                before = queue._store.state(event.event_id).admitted_to  # the model reads what the admitter wrote
                queue.admit_once()
                state = queue._store.state(event.event_id)
                # What every waiting page polls: the status's answer (the real shaping) and its hint.
                poll = (status_poll_ms or queue_status(event.event_id, state, policy).poll_after_ms) / 1000
                outcome.status_poll_seconds = poll
                outcome.most_waiting = max(outcome.most_waiting, len(waiting))
                renewals = len(waiting) / (settings.queue_pass_seconds - PASS_MARGIN_SECONDS)
                outcome.most_place_polls = max(outcome.most_place_polls, state.admitted_to - before + renewals)
                for place in range(before + 1, state.admitted_to + 1):
                    if place not in buyer_at:
                        continue  # a place nobody holds (closed by the step)
                    admitted = buyer_at[place]
                    waiting.discard(admitted)
                    admitted_places.append(place)
                    admitted_at[admitted] = time
                    heard = _status_heard(draw, poll, cache_seconds)  # then one own-place poll: the admission
                    outcome.admission_heard.append(heard)
                    if draw.random() < abandon:
                        continue
                    at(time + heard + draw.uniform(*THINK_SECONDS), "purchase", admitted)
                if state.sold_out and outcome.sold_out_at is not None and sold_out_step is None:
                    sold_out_step = time
                    for _ in waiting:
                        outcome.heard_after.append(time - outcome.sold_out_at + _status_heard(draw, poll, cache_seconds))
                if (sold_out_step is None or time < last_join) and time < last_join + 3600:
                    at(time + 1.0, "step", -1)
            elif kind == "purchase":
                if buyer in done or time > admitted_at[buyer] + window_seconds:
                    continue
                if not purchase_route.take(time):
                    outcome.edge_429["purchase"] += 1
                    at(time + 1.0 + draw.random(), "purchase", buyer)
                    continue
                extra = lambdas.start("purchase", time)
                if extra is None:
                    outcome.edge_429["lambda"] += 1
                    at(time + 1.0 + draw.random(), "purchase", buyer)
                    continue
                clock.now = time + extra
                token = sign_pass(PASS_KEY, QueuePass(event.event_id, caller.user_id, place_of[buyer], int((now() + 900) * 1000)))
                quantity = 2 if draw.random() < 0.2 else 1
                request = {"event_id": event.event_id, "quantity": quantity, "queue_pass": token}
                answer_code, retry_after, _ = _answered(
                    functools.partial(service.purchase, caller, validate(PurchaseRequest, request)), ApiError, is_unavailable, outcome
                )
                lambdas.end("purchase", clock.now)
                outcome.answers[f"purchase {answer_code}"] += 1
                if answer_code == "200":
                    done.add(buyer)
                    outcome.sold += quantity
                    outcome.orders += 1
                    if outcome.sold == seats and outcome.sold_out_at is None:
                        outcome.sold_out_at = clock.now
                    if draw.random() < 0.9:  # paid: its follow-ups reach Stripe later
                        paid = clock.now + draw.uniform(*PAY_SECONDS)
                        for endpoint in FOLLOW_UPS:
                            at(paid + draw.uniform(0, 5), f"follow-up {endpoint}", buyer)
                elif answer_code == "503":
                    # Busy (no slot) and ProviderUnavailable (Stripe's 429 after the gateway's
                    # backoff) carry Retry-After; one without it is counted, tried again 2 s later.
                    outcome.answers["purchase 503 without Retry-After"] += retry_after is None
                    at(clock.now + (2.0 if retry_after is None else retry_after), "purchase", buyer)
                else:
                    done.add(buyer)
        outcome.stripe = stripe_api.counts
        outcome.most_sessions_a_second = stripe_api.most_in_a_second(SESSIONS_CREATE)
        outcome.inversions = _inversions([arrivals[buyer_at[place]] for place in sorted(admitted_places)], tie)
        outcome.peak_write_units = client.peak(client.write_units)
        outcome.peak_read_units = client.peak(client.read_units)
        outcome.environments = lambdas.environments
        outcome.most_running = lambdas.most_running
        outcome.oversold = oversold(inner, event.event_id, seats)
        return outcome
    finally:
        vars(retries).update(time=stock_time, random=stock_random)
        vars(tickets_repository).update(secrets=stock_secrets)


def _status_heard(draw: random.Random, poll_seconds: float, cache_seconds: float) -> float:
    """How long after the admitter's step that changed the queue a waiting page shows it. The page
    polls the status every ``poll_seconds``, the first poll at a time drawn within one; each poll is
    answered from its edge's copy, which the edge fetched from the origin at its copy's last refresh
    (every ``cache_seconds``, at a phase drawn for the buyer's edge: a busy edge refreshes as soon as
    its copy expires). A copy fetched before the step shows the old state, and the page hears it a
    poll later. The copies of the state the origin reads trail the admitter's write by a few
    milliseconds (eventually consistent reads): not modelled."""
    phase = draw.uniform(0, cache_seconds)
    at = draw.uniform(0, poll_seconds)
    while at - (at - phase) % cache_seconds < 0:  # the copy served then was fetched before the step
        at += poll_seconds
    return at


def _answered(call: Any, api_error: type[Exception], is_unavailable: Any, outcome: PaidOutcome) -> tuple[str, float | None, Any]:
    """A request's answer as ``payments.http`` gives it: the status, its Retry-After if any, and
    the result (None unless 200). An error that is not an ApiError is a 503 with Retry-After when
    DynamoDB is unavailable, else a 500 (counted by its message)."""
    try:
        return "200", None, call()
    except api_error as error:
        retry_after = (getattr(error, "headers", None) or {}).get("Retry-After")
        return str(getattr(error, "status_code", 500)), None if retry_after is None else float(retry_after), None
    except Exception as error:  # mapped as payments.http maps it
        if is_unavailable(error):
            return "503", 2.0, None
        outcome.failures[f"{type(error).__name__}: {error}"[:200]] += 1
        return "500", None, None


def _inversions(arrivals_in_admission_order: list[float], tie: float) -> int:
    """Buyers admitted after one who arrived more than ``tie`` seconds later."""
    inversions, latest = 0, float("-inf")
    for arrived in arrivals_in_admission_order:
        if arrived < latest - tie:
            inversions += 1
        latest = max(latest, arrived)
    return inversions


def stripe_account_load(stripe_rate: int, orders: int, pay: float = 0.9, seed: int = 27) -> Counter[str]:
    """Stripe's side alone, at any size (no stores): ``orders`` sessions opened in ``stripe_rate - 1``
    slots a second (paced), 90% of them paid 60 to 300 s later, each payment then its follow-ups
    (``FOLLOW_UPS``) within 5 s, all offered to the stand-in in time order: the
    429s the account's 100 a second gives once the follow-ups overlap the sessions still opening."""
    draw = random.Random(seed)  # noqa: S311 - a seeded simulation
    clock = VirtualClock()
    api = StripeStandIn(clock, stripe_rate)
    width = 1.0 / max(1, stripe_rate - 1)
    requests = [(index * width, SESSIONS_CREATE) for index in range(orders)]
    for start, _ in list(requests):
        if draw.random() < pay:
            paid = start + draw.uniform(*PAY_SECONDS)
            requests += [(paid + draw.uniform(0, 5), endpoint) for endpoint in FOLLOW_UPS]
    for time, endpoint in sorted(requests):
        with contextlib.suppress(stripe.RateLimitError):
            api.request(endpoint, time)
    return api.counts


def report(outcomes: list[PaidOutcome]) -> None:
    print(
        f"{'Stripe/s':>8} {'admit/s':>7} {'route':>7} {'paced':>5} {'sold':>6} {'over':>4} {'5xx':>4} {'S429 cr':>7} {'S429 rd':>7} {'S429 acct':>9} "
        f"{'503':>5} {'no RA':>6} {'e429 buy':>8} {'e429 join':>9} {'e429 λ':>6} {'no seat':>7} {'join p99':>8} {'inv':>4} {'sold out s':>10} "
        f"{'bound s':>7} {'excess s':>8} {'heard p99':>9} {'heard max':>9} {'max ses/s':>9} {'WCU/key/s':>16} {'RCU/key/s':>16}"
    )
    for o in outcomes:
        sold_out = "never" if o.sold_out_at is None else f"{o.sold_out_at:.0f}"
        excess = "" if o.sold_out_at is None else f"{o.sold_out_at - o.bound_seconds:.0f}"
        heard = o.heard_after or [float("nan")]
        print(
            f"{o.stripe_rate:>8} {o.admit_rate:>7} {f'{o.route[0]}/{o.route[1]}':>7} {'yes' if o.pace else 'no':>5} {o.sold:>6} {o.oversold:>4} {o.five_xx:>4} "
            f"{o.stripe['429 ' + SESSIONS_CREATE]:>7} {sum(o.stripe['429 ' + endpoint] for endpoint in FOLLOW_UPS):>7} {o.stripe['429 account']:>9} {o.answers['join 503'] + o.answers['purchase 503']:>5} {o.answers['purchase 503 without Retry-After']:>6} {o.edge_429['purchase']:>8} "
            f"{o.edge_429['join']:>9} {o.edge_429['lambda']:>6} {o.answers['purchase 400']:>7} {_p99(o.join_seconds):>8.3f} {o.inversions:>4} {sold_out:>10} "
            f"{o.bound_seconds:>7.0f} {excess:>8} {_p99(heard):>9.1f} {max(heard):>9.1f} {o.most_sessions_a_second:>9} "
            f"{f'{o.peak_write_units[0]} ({o.peak_write_units[1]})':>16} {f'{o.peak_read_units[0]} ({o.peak_read_units[1]})':>16}"
        )


def report_polls(
    outcomes: list[PaidOutcome], buyers: int, seats: int, completion: int, status_poll_ms: int | None, cache_seconds: float
) -> None:
    """The requests the waiting buyers made in each row, and "sold out" heard at the full size:
    through the queue's status (the last seat taken within the admitter's step, then ``_status_heard``
    for everyone still waiting), checked against issue 27's goal, and, for comparison, through each
    buyer's own place at its hint (``poll_after_ms``, the same rule, no stores; as before the status)."""
    from payments.domain.admission import STATUS_POLL_MS, AdmissionPolicy, PlaceStatus, QueueState, poll_after_ms
    from payments.settings import Settings

    budget = Settings.model_validate(ENVIRONMENT).queue_poll_budget_per_second
    for o in outcomes:
        edge = o.most_waiting / o.status_poll_seconds if o.status_poll_seconds else 0.0
        print(
            f"Stripe {o.stripe_rate}/s, route {o.route[0]}/{o.route[1]}{', paced' if o.pace else ''}: admissions heard within"
            f" p99 {_p99(o.admission_heard):.1f} s (then one own-place poll each); {o.most_waiting} waiting at most polled the status every"
            f" {o.status_poll_seconds:g} s: {edge:.0f} requests a second at CloudFront, at most {min(edge, EDGE_LOCATIONS / cache_seconds):.0f}"
            f" at the origin; own-place polls {o.most_place_polls:.0f} a second at most"
        )
    poll = (status_poll_ms or STATUS_POLL_MS) / 1000
    for rate in sorted({o.admit_rate for o in outcomes}):
        policy = AdmissionPolicy(rate_per_second=rate, window_ms=180_000, completion_percent=completion, poll_budget_per_second=budget)
        admitted = round(seats / 1.2 * 100 / completion)
        waiting = range(admitted + 1, buyers + 1)
        draw = random.Random(27)  # noqa: S311 - a seeded simulation
        # The last seat is taken within a step (the admitter steps once a second); then the status.
        heard = sorted(draw.uniform(0, 1.0) + _status_heard(draw, poll, cache_seconds) for _ in waiting)
        met = "met" if _p99(heard) <= SOLD_OUT_GOAL_SECONDS else "MISSED"
        print(
            f"At full size ({seats} seats, {buyers} buyers, {rate}/s), through the queue's status: {len(waiting)} waiting when the last seat goes"
            f' hear "sold out" within p50 {heard[len(heard) // 2]:.1f} s, p99 {_p99(heard):.1f} s, max {heard[-1]:.1f} s of it'
            f" (the admitter's step, a status poll every {poll:g} s, a copy at most {cache_seconds:g} s old): goal {SOLD_OUT_GOAL_SECONDS:g} s {met};"
            f" {len(waiting) / poll:.0f} status requests a second at CloudFront, at most {EDGE_LOCATIONS / cache_seconds:.0f} at the origin"
            f" ({EDGE_LOCATIONS} edge locations assumed)"
        )
        # Before the status: each waiting buyer polled their own place at its hint, from the step on.
        state = QueueState(admitted_to=admitted, handed_to=buyers, seats_left=rate)
        draw = random.Random(27)  # noqa: S311 - a seeded simulation
        own = sorted(draw.uniform(0, poll_after_ms(state, place, PlaceStatus.WAITING, policy) / 1000) for place in waiting)
        load = sum(1000 / poll_after_ms(state, place, PlaceStatus.WAITING, policy) for place in waiting)
        met = "met" if _p99(own) <= SOLD_OUT_GOAL_SECONDS else "MISSED"
        print(
            f"At full size ({seats} seats, {buyers} buyers, {rate}/s), through their own places at their hints (without the status):"
            f' "sold out" within p50 {own[len(own) // 2]:.1f} s, p99 {_p99(own):.1f} s, max {own[-1]:.1f} s of the step: goal {SOLD_OUT_GOAL_SECONDS:g} s {met};'
            f" their hints ask for {load:.0f} polls a second (budget {budget})"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seats", type=int, default=2000)
    parser.add_argument("--buyers", type=int, default=8000)
    parser.add_argument("--arrival-seconds", type=float, default=60.0)
    parser.add_argument(
        "--rows",
        nargs="+",
        default=["25:25:25:25", "25:25:20:5", "25:25:25:25:pace", "100:100:100:100", "100:100:100:100:pace"],
        help="Stripe's endpoint rate:the admitter's rate:the purchase route's rate:its burst[:pace (slots in front of session creation)]",
    )
    parser.add_argument("--abandon", type=float, default=0.1)
    parser.add_argument("--completion", type=int, default=90, help="QUEUE_COMPLETION_PERCENT")
    parser.add_argument("--window-seconds", type=int, default=180, help="QUEUE_ADMISSION_WINDOW_SECONDS")
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--cold-start-ms", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=27)
    parser.add_argument("--warm-joins", type=int, default=0, help="join environments provisioned before the sale")
    parser.add_argument("--full-seats", type=int, default=50_000, help="the size of the Stripe-only account check")
    parser.add_argument(
        "--status-poll-ms", type=int, default=None, help="the waiting pages' status polls (default: the status answer's poll_after_ms)"
    )
    parser.add_argument("--cache-seconds", type=float, default=CACHE_SECONDS, help="CloudFront's copy's life (the cache policy's MaxTTL)")
    args = parser.parse_args()
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    moto_patches.install()
    outcomes = []
    for row in args.rows:
        parts = row.split(":")
        stripe_rate, admit_rate, route_rate, route_burst = (int(part) for part in parts[:4])
        with mock_aws():
            outcomes.append(
                run_paid_sale(
                    args.seats,
                    args.buyers,
                    stripe_rate,
                    admit_rate,
                    (route_rate, route_burst),
                    arrival_seconds=args.arrival_seconds,
                    abandon=args.abandon,
                    completion_percent=args.completion,
                    window_seconds=args.window_seconds,
                    shards=args.shards,
                    cold_start=args.cold_start_ms / 1000,
                    seed=args.seed,
                    pace=parts[4:] == ["pace"],
                    warm_joins=args.warm_joins,
                    status_poll_ms=args.status_poll_ms,
                    cache_seconds=args.cache_seconds,
                )
            )
    print(
        f"Paid on-sale through the queue, simulated: {args.seats} seats ({args.shards} shards), {args.buyers} buyers joining within "
        f"{args.arrival_seconds:g} s; {args.abandon:.0%} of the admitted never reserve (assumed); completion {args.completion}%, window {args.window_seconds} s; "
        f"Stripe: the endpoint's rate per sliding second, the account's {ACCOUNT_RATE}"
    )
    report(outcomes)
    report_polls(outcomes, args.full_seats * 4, args.full_seats, args.completion, args.status_poll_ms, args.cache_seconds)
    orders = round(args.full_seats / 1.2)
    for stripe_rate in sorted({int(row.split(":")[0]) for row in args.rows}):
        counts = stripe_account_load(stripe_rate, orders)
        print(
            f"Stripe's side at full size ({args.full_seats} seats, {orders} sessions paced at {stripe_rate - 1}/s, 90% paid, {len(FOLLOW_UPS)} follow-up"
            f" requests each): {counts['429 account']} account 429s, {counts['429 endpoint']} endpoint 429s"
        )
    for o in outcomes:
        if o.failures:
            print(o.failures.most_common(3))
    failed = any(o.oversold or o.five_xx for o in outcomes)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
