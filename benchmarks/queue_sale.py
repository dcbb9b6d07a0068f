"""A paid on-sale through the on-sale queue, simulated in virtual time with the queue's own rules
(``payments.domain.admission.advance`` and the join rule of ``repositories.queue``), not the stores:
what the admitter does with 200,000 buyers for 50,000 seats at Stripe's rate (docs/on-sales.md).

Each virtual second: the buyers arriving join (two counters drawn, the one behind taken; the reads
``--lag`` joins stale), the admitter steps once, and its places nobody holds are closed. An admitted
buyer leaves without reserving with probability ``--abandon``; the others open their Checkout
Session (a reservation: the seats and the admission used) a think time later (uniform 2 to 20 s),
or find too few seats left. A reservation is paid with probability ``--pay`` a few minutes later,
else it expires after 31 minutes and its seats come back. A buyer takes one seat, or two one time in
five. Waiting buyers poll every 2 seconds; an answer may be a second old.

Printed per row (Stripe's rate, the admission rate): when 90%, 99% and all of the seats were held,
against what Stripe's rate allows (the sessions the seats need, at 1.2 seats each, at Stripe's
rate); the most Checkout Sessions opened in any one second and the seconds above Stripe's rate
(where Stripe would answer 429); buyers admitted after one who arrived more than ``--tie-seconds``
later (inversions beyond ties) and the largest such gap; how long after the last seat the waiting
buyers heard "sold out" (the admitter's step, then a poll). Pure Python, seeded: ``python -m
benchmarks.queue_sale``."""

from __future__ import annotations

import argparse
import heapq
import random
from collections import Counter, deque
from dataclasses import dataclass

from payments.domain.admission import (
    EPOCH_MS,
    PLACE_COUNTERS,
    AdmissionPolicy,
    QueueState,
    advance,
    counter_floors,
    place_of,
)

THINK_SECONDS = (2, 20)
PAY_SECONDS = (60, 300)
RESERVATION_SECONDS = 31 * 60
POLL_SECONDS = 2
CACHE_SECONDS = 1


@dataclass
class Result:
    held_at: dict[float, float]  # share of the seats -> the second it was first held
    physical_seconds: float
    most_sessions_a_second: int
    seconds_over_stripe: int
    inversions: int
    largest_inversion_seconds: float
    heard_sold_out_after: float | None
    admitted: int


def simulate(
    seats: int,
    buyers: int,
    arrival_seconds: float,
    stripe_rate: int,
    rate: int,
    abandon: float,
    pay: float,
    lag: int,
    tie: float,
    seed: int,
) -> Result:
    draw = random.Random(seed)  # noqa: S311 - a seeded simulation, not a secret
    policy = AdmissionPolicy(rate_per_second=rate, window_ms=600_000)
    state = QueueState()
    counters = dict.fromkeys(range(PLACE_COUNTERS), 0)
    seen: deque[dict[int, int]] = deque(maxlen=lag + 1)
    arrival_of_place: dict[int, int] = {}
    arrivals = sorted(draw.uniform(0, arrival_seconds) for _ in range(buyers))
    next_arrival = 0
    seats_left = seats
    used: Counter[int] = Counter()
    events: list[tuple[float, int, str, int, int]] = []  # (time, order, kind, seats, epoch)
    order = 0
    sessions: Counter[int] = Counter()
    admitted_order: list[int] = []  # arrival ranks in the order admitted
    sold_out_at = heard = None
    held_at: dict[float, float] = {}
    second = 0
    while True:
        now = float(second)
        # joins
        while next_arrival < buyers and arrivals[next_arrival] < now + 1:
            seen.append(dict(counters))
            first = draw.randrange(PLACE_COUNTERS)
            other = (first + 1 + draw.randrange(PLACE_COUNTERS - 1)) % PLACE_COUNTERS
            read = seen[0]
            counter = other if read[other] < read[first] else first
            counters[counter] += 1
            arrival_of_place[place_of(counter, counters[counter])] = next_arrival
            next_arrival += 1
        # reservations, payments and expiries due by now
        while events and events[0][0] <= now:
            _, _, kind, wanted, epoch = heapq.heappop(events)
            if kind == "reserve":
                if seats_left >= wanted:
                    seats_left -= wanted
                    used[epoch] += 1
                    sessions[second] += 1
                    for share in (0.9, 0.99, 1.0):
                        if share not in held_at and seats - seats_left >= share * seats:
                            held_at[share] = now
                    if seats_left == 0 and sold_out_at is None:
                        sold_out_at = now
                    paid = draw.random() < pay
                    delay = draw.uniform(*PAY_SECONDS) if paid else RESERVATION_SECONDS
                    order += 1
                    heapq.heappush(events, (now + delay, order, "paid" if paid else "expired", wanted, epoch))
            elif kind == "expired":
                seats_left += wanted
        # the admitter's step
        before = state.admitted_to
        state = advance(state, now_ms=second * 1000, seats_left=seats_left, handed=counters, used_by_epoch=used, policy=policy)
        for counter, floor in counter_floors(state.admitted_to).items():
            counters[counter] = max(counters[counter], floor)
        for place in range(before + 1, state.admitted_to + 1):
            if place not in arrival_of_place:
                continue  # a hole
            admitted_order.append(arrival_of_place[place])
            if draw.random() < abandon:
                continue
            wanted = 2 if draw.random() < 0.2 else 1
            order += 1
            heapq.heappush(events, (now + draw.uniform(*THINK_SECONDS), order, "reserve", wanted, (second * 1000) // EPOCH_MS))
        if state.sold_out and sold_out_at is not None and heard is None:
            # The step that wrote it, then the next poll (every 2 s), whose answer may be a second old.
            heard = now - sold_out_at + POLL_SECONDS + CACHE_SECONDS
        second += 1
        if (heard is not None and not events) or second > 6 * 3600:
            break
    # Inversions beyond ties: a buyer admitted after one who arrived more than ``tie`` seconds later.
    inversions, latest, largest = 0, -1.0, 0.0
    for rank in admitted_order:
        arrived = arrivals[rank]
        if arrived < latest - tie:
            inversions += 1
            largest = max(largest, latest - arrived)
        latest = max(latest, arrived)
    return Result(
        held_at=held_at,
        physical_seconds=seats / 1.2 / stripe_rate,
        most_sessions_a_second=max(sessions.values(), default=0),
        seconds_over_stripe=sum(1 for count in sessions.values() if count > stripe_rate),
        inversions=inversions,
        largest_inversion_seconds=largest,
        heard_sold_out_after=heard,
        admitted=len(admitted_order),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seats", type=int, default=50_000)
    parser.add_argument("--buyers", type=int, default=200_000)
    parser.add_argument("--arrival-seconds", type=float, default=60.0)
    parser.add_argument(
        "--rows", nargs="+", default=["25:25", "25:15", "100:100", "100:70"], help="Stripe's rate:the admission rate, a second"
    )
    parser.add_argument("--tie-seconds", type=float, default=0.1)
    parser.add_argument("--abandon", type=float, default=0.1)
    parser.add_argument("--pay", type=float, default=0.9)
    parser.add_argument("--lag", type=int, default=30)
    parser.add_argument("--seed", type=int, default=27)
    args = parser.parse_args()
    print(
        f"{args.seats} seats, {args.buyers} buyers joining within {args.arrival_seconds:.0f} s; {args.abandon:.0%} of the admitted"
        f" never reserve, {args.pay:.0%} of reservations paid (the rest expire after 31 min)"
    )
    print(
        f"{'Stripe/s':>8} {'admit/s':>7} {'Stripe s':>8} {'90% s':>6} {'99% s':>6} {'100% s':>7} {'max/s':>6} {'s>Stripe':>8}"
        f" {'inv':>4} {'inv s':>6} {'heard s':>7} {'admitted':>8}"
    )
    for row in args.rows:
        stripe_rate, rate = (int(part) for part in row.split(":"))
        result = simulate(
            args.seats, args.buyers, args.arrival_seconds, stripe_rate, rate, args.abandon, args.pay, args.lag, args.tie_seconds, args.seed
        )
        held = [f"{result.held_at[share]:.0f}" if share in result.held_at else "never" for share in (0.9, 0.99, 1.0)]
        heard = "" if result.heard_sold_out_after is None else f"{result.heard_sold_out_after:.0f}"
        print(
            f"{stripe_rate:>8} {rate:>7} {result.physical_seconds:>8.0f} {held[0]:>6} {held[1]:>6} {held[2]:>7}"
            f" {result.most_sessions_a_second:>6} {result.seconds_over_stripe:>8} {result.inversions:>4}"
            f" {result.largest_inversion_seconds:>6.2f} {heard:>7} {result.admitted:>8}"
        )


if __name__ == "__main__":
    main()
