"""Throughput and latency of the local stack on loopback, for the free-ticket and verify flows:
a load generator of N requests from C concurrent clients against a stack started in this process.
A slowdown between versions shows here; absolute figures are this machine's, not Lambda's.

    python -m benchmarks.local_load [--requests 300] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import os
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


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


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
        # One user buys every ticket here, standing for many buyers: the per-account limit on free
        # seats (10 by default) would refuse all but the first purchases.
        os.environ["MAX_FREE_SEATS_PER_EVENT"] = "100000"
        from payments import wiring

        wiring.reset()
        try:
            api = stack.api_url
            user = {"Authorization": f"Bearer {authority.issue('load-user')}"}
            staff = {"Authorization": f"Bearer {authority.issue('load-staff', staff=True)}"}
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
                    lambda s: s.post(
                        f"{api}/api/payments/create-payment-intent/",
                        json={"event_id": free["event_id"], "quantity": 1},
                        headers=user,
                        timeout=30,
                    )
                )
                for _ in range(args.requests)
            ]
            free_result = load("free ticket (create-payment-intent)", buy_free, args.concurrency)

            tickets = [
                requests.post(
                    f"{api}/api/payments/create-payment-intent/",
                    json={"event_id": paid["event_id"], "quantity": 1},
                    headers=user,
                    timeout=30,
                ).json()
                for _ in range(args.requests)
            ]
            assert stack.stripe is not None
            for ticket in tickets:
                stack.stripe.complete_session(ticket["session_id"])
            # The local Stripe's webhooks settle first: verify then takes its one-read path.
            stack.stripe.drain_webhooks()
            verify_calls = [
                (
                    lambda s, t=ticket: s.post(
                        f"{api}/api/payments/verify/",
                        json={"session_id": t["session_id"], "ticket_id": t["ticket_id"]},
                        headers=user,
                        timeout=30,
                    )
                )
                for ticket in tickets
            ]
            verify_result = load("verify (paid ticket, QR code)", verify_calls, args.concurrency)
        finally:
            stack.stop()

    print(f"Local stack on loopback, {args.requests} requests per flow, {args.concurrency} concurrent clients")
    print(f"{'flow':<38} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for result in (free_result, verify_result):
        print(f"{result['flow']:<38} {result['rps']:>7.1f} {result['p50_ms']:>8.1f} {result['p99_ms']:>8.1f} {result['errors']:>7}")
    return 1 if free_result["errors"] or verify_result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
