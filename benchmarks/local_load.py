"""Throughput and latency of the local stack on loopback, for the free-ticket and verify flows:
a load generator of N requests from C concurrent clients against a stack started in this process.
A slowdown between versions shows here; absolute figures are this machine's, not Lambda's.

The load stays within the project's own limits, as the template deploys them: the requests are
spread over as many buyers as the per-account limits of free and unpaid seats per event need (each
buyer takes one seat a request, never more than the limit allows), so every request is one that the
deployed API would accept.

    python -m benchmarks.local_load [--requests 300] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from local.jwt_keys import LocalAuthority
from local.stack import Stack, StackConfig
from local.template import load_template


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def template_limit(parameter: str) -> int:
    """A per-account limit as the template deploys it by default (``MaxFreeSeatsPerEvent`` ...)."""
    return int(load_template()["Parameters"][parameter]["Default"])


def buyers_for(requests_count: int, per_buyer: int) -> list[int]:
    """Which buyer sends each request: ``per_buyer`` requests each, in turn, so that none of them
    holds more seats of one event than the limit allows."""
    return [index // per_buyer for index in range(requests_count)]


def load(name: str, calls: Sequence[Callable[[requests.Session], requests.Response]], concurrency: int) -> dict[str, Any]:
    sessions = [requests.Session() for _ in range(concurrency)]
    latencies: list[float] = []
    errors = 0

    def worker(index: int) -> None:
        nonlocal errors
        session = sessions[index % concurrency]
        started = time.perf_counter()
        response = calls[index](session)
        latencies.append(time.perf_counter() - started)
        if response.status_code >= 400:
            errors += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(worker, range(len(calls))))
    elapsed = time.perf_counter() - started
    return {
        "flow": name,
        "requests": len(calls),
        "errors": errors,
        "rps": len(calls) / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:
        authority = LocalAuthority.load_or_create(Path(workdir) / "key.pem")
        stack = Stack(StackConfig(port=0, stripe_port=0, paypal_port=0, dynamodb_port=0, demo_data=False, quiet=True), authority)
        stack.start()
        try:
            api = stack.api_url
            staff = {"Authorization": f"Bearer {authority.issue('load-staff', staff=True)}"}
            free_buyers = buyers_for(args.requests, template_limit("MaxFreeSeatsPerEvent"))
            paid_buyers = buyers_for(args.requests, template_limit("MaxUnpaidSeatsPerEvent"))
            tokens = {
                buyer: {"Authorization": f"Bearer {authority.issue(f'load-buyer-{buyer}')}"}
                for buyer in range(max(free_buyers[-1], paid_buyers[-1]) + 1)
            }
            free = requests.post(
                f"{api}/api/events/",
                json={"name": "Load free", "price": 0, "currency": "usd", "capacity": 100000},
                headers=staff,
                timeout=10,
            ).json()
            paid = requests.post(
                f"{api}/api/events/",
                json={"name": "Load paid", "price": 10, "currency": "usd", "capacity": 100000},
                headers=staff,
                timeout=10,
            ).json()

            buy_free = [
                (
                    lambda s, headers=tokens[buyer]: s.post(
                        f"{api}/api/payments/create-payment-intent/",
                        json={"event_id": free["event_id"], "quantity": 1},
                        headers=headers,
                        timeout=30,
                    )
                )
                for buyer in free_buyers
            ]
            free_result = load("free ticket (create-payment-intent)", buy_free, args.concurrency)

            reserved = [
                (
                    tokens[buyer],
                    requests.post(
                        f"{api}/api/payments/create-payment-intent/",
                        json={"event_id": paid["event_id"], "quantity": 1},
                        headers=tokens[buyer],
                        timeout=30,
                    ),
                )
                for buyer in paid_buyers
            ]
            refused = [response.text for _, response in reserved if response.status_code != 200]
            if refused:
                raise SystemExit(f"{len(refused)} reservations refused, the first: {refused[0]}")
            tickets = [(headers, response.json()) for headers, response in reserved]
            assert stack.stripe is not None
            for _, ticket in tickets:
                stack.stripe.complete_session(ticket["session_id"])
            # The local Stripe's webhooks settle first: verify then takes its one-read path.
            stack.stripe.drain_webhooks()
            verify_calls = [
                (
                    lambda s, t=ticket, headers=headers: s.post(
                        f"{api}/api/payments/verify/",
                        json={"session_id": t["session_id"], "ticket_id": t["ticket_id"]},
                        headers=headers,
                        timeout=30,
                    )
                )
                for headers, ticket in tickets
            ]
            verify_result = load("verify (paid ticket, QR code)", verify_calls, args.concurrency)
        finally:
            stack.stop()

    print(
        f"Local stack on loopback, {args.requests} requests per flow, {args.concurrency} concurrent clients, "
        f"{free_buyers[-1] + 1} buyers of free seats and {paid_buyers[-1] + 1} of paid ones (the template's per-account limits)"
    )
    print(f"{'flow':<38} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for result in (free_result, verify_result):
        print(f"{result['flow']:<38} {result['rps']:>7.1f} {result['p50_ms']:>8.1f} {result['p99_ms']:>8.1f} {result['errors']:>7}")
    return 1 if free_result["errors"] or verify_result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
