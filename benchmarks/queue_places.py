"""How far the on-sale queue's places stray from the buyers' arrival order (docs/on-sales.md).

Places come from ``PLACE_COUNTERS`` counters (``payments.domain.admission``): counter c hands out
places c + 1, c + 1 + K, ... A join that takes a counter at random lets the counters drift apart
like a random walk, so a buyer's place strays from their arrival rank by about the square root of
the joins so far times K; a join that reads two counters and takes the one behind (what
``repositories.queue`` does) keeps them level. The reads may be stale by the joins in flight
(``--lag``: a join sees the counters as they were that many joins earlier).

Each row: joins, the rule, the largest and the 99th percentile of |place rank - arrival rank|, and
that largest in seconds of arrivals at ``--rate`` joins a second. Pure Python, seeded: ``python -m
benchmarks.queue_places``."""

from __future__ import annotations

import argparse
import random
from collections import deque

from payments.domain.admission import PLACE_COUNTERS, place_of


def places(joins: int, rule: str, lag: int, seed: int) -> list[int]:
    draw = random.Random(seed)  # noqa: S311 - a seeded simulation, not a secret
    counters = [0] * PLACE_COUNTERS
    seen: deque[list[int]] = deque(maxlen=lag + 1)
    handed = []
    for _ in range(joins):
        seen.append(list(counters))
        if rule == "random":
            counter = draw.randrange(PLACE_COUNTERS)
        else:
            first = draw.randrange(PLACE_COUNTERS)
            second = (first + 1 + draw.randrange(PLACE_COUNTERS - 1)) % PLACE_COUNTERS
            read = seen[0]  # as the counters were ``lag`` joins ago
            counter = second if read[second] < read[first] else first
        counters[counter] += 1
        handed.append(place_of(counter, counters[counter]))
    return handed


def displacement(handed: list[int]) -> tuple[int, int]:
    rank = {place: position for position, place in enumerate(sorted(handed))}
    strays = sorted(abs(rank[place] - arrival) for arrival, place in enumerate(handed))
    return strays[-1], strays[int(len(strays) * 0.99)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joins", type=int, nargs="+", default=[1_000, 20_000, 200_000])
    parser.add_argument("--rate", type=float, default=3_333.0, help="joins a second (200,000 in a minute)")
    parser.add_argument("--seed", type=int, default=27)
    args = parser.parse_args()
    print(f"{'joins':>8} {'rule':<22} {'max':>6} {'p99':>6} {'max s':>7}")
    for joins in args.joins:
        for rule, lag in (("random", 0), ("two choices", 0), ("two choices", 30), ("two choices", 1000)):
            most, p99 = displacement(places(joins, rule, lag, args.seed))
            label = rule if rule == "random" else f"{rule}, lag {lag}"
            print(f"{joins:>8} {label:<22} {most:>6} {p99:>6} {most / args.rate:>7.2f}")


if __name__ == "__main__":
    main()
