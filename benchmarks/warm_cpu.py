"""Warm CPU per request: what a warm Lambda container spends on one request, our code and botocore's
client side together, measured as the handler thread's CPU time (``time.thread_time``). DynamoDB
(the embedded one, in a process of its own) and the local Stripe (in another thread) are not
counted; the network wait is not CPU either.

Each row is the median over ``--requests`` requests after ``--warm`` unmeasured ones, with the part
spent inside botocore's API calls (the AWS SDK: serialising, signing, sending, parsing) apart from
ours (the handler, our layer, Powertools, the QR code). Targets (issue 15), for ours: under 2 ms
where a QR code is returned, under 1 ms elsewhere; exits 1 when a row misses.

    python -m benchmarks.warm_cpu [--requests 200]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.client import BaseClient

from benchmarks import settings_for
from benchmarks.servers import dynamodb_process
from local.stripe_fake import StripeFake
from local.template import create_tables
from tests.support.flows import STAFF, buy, create_event, deliver_webhook, pay
from tests.support.lambdas import LambdaContext, api_event, load_module
from tests.support.servers import serve

TABLES = {"TicketsTable": "warm-tickets", "PaymentsTable": "warm-payments", "IdempotencyTable": "warm-idempotency"}
QR_TARGET_MS, TARGET_MS = 2.0, 1.0


@contextmanager
def environment() -> Iterator[StripeFake]:
    """The embedded DynamoDB in a process of its own: in Lambda, the function's heap holds none of
    the database's objects, and the garbage collector's passes over them would be counted as ours."""
    stripe_fake = StripeFake()
    with dynamodb_process() as endpoint, serve(stripe_fake) as stripe_url:
        stripe_fake.public_url = stripe_url
        # Lambda writes its logs to stdout, a write per line: so here.
        os.environ.update(
            settings_for(
                TABLES,
                stripe_url,
                DYNAMODB_ENDPOINT=endpoint,
                MAX_UNPAID_SEATS_PER_EVENT="100000",
                MAX_FREE_SEATS_PER_EVENT="100000",
                POWERTOOLS_LOG_LEVEL="INFO",
            )
        )
        create_tables(boto3.client("dynamodb", endpoint_url=endpoint), TABLES)
        yield stripe_fake


class SdkTime:
    """CPU the handler thread spends inside botocore's API calls (serialising, signing, sending and
    parsing a DynamoDB request): the AWS SDK's share, reported apart from our code's."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._call = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private to botocore, absent from its stubs

    def __enter__(self) -> SdkTime:
        sdk = self

        def timed(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            start = time.thread_time()
            try:
                return sdk._call(client, operation, params)
            finally:
                sdk.seconds += time.thread_time() - start

        setattr(BaseClient, "_make_api_call", timed)  # noqa: B010
        return self

    def __exit__(self, *_: object) -> None:
        setattr(BaseClient, "_make_api_call", self._call)  # noqa: B010


def cpu_ms(function: str, events: list[dict[str, Any]], warm: int) -> tuple[float, float]:
    """The median CPU of the handler over ``events`` (built beforehand, so that building them is not
    counted) after ``warm`` of them unmeasured, and the median of its part inside the AWS SDK."""
    handler = load_module(function).lambda_handler
    totals, sdk_parts = [], []
    with SdkTime() as sdk:
        for index, event in enumerate(events):
            context = LambdaContext(function_name=function)
            sdk.seconds = 0.0
            start = time.thread_time()
            response = handler(event, context)
            elapsed = time.thread_time() - start
            if response["statusCode"] >= 400:
                raise RuntimeError(f"{function} failed: {response}")
            if index >= warm:
                totals.append(elapsed * 1000)
                sdk_parts.append(sdk.seconds * 1000)
    return statistics.median(totals), statistics.median(sdk_parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warm", type=int, default=20)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    rows: list[tuple[str, str, float, float, float]] = []
    with environment() as stripe_fake, open(os.devnull, "w") as quiet:
        stdout, sys.stdout = sys.stdout, quiet  # the functions' log lines, as Lambda's stdout takes them
        try:
            total = args.requests + args.warm
            free_event = create_event(price=0, capacity=1_000)  # one seat shard, as most events
            on_sale = create_event(price=0, capacity=64_000)  # 64 seat shards, read by every purchase
            paid_event = create_event(price=25, capacity=100_000)
            paid = []
            for _ in range(total):
                ticket = buy(paid_event, 1).body
                deliver_webhook(pay(stripe_fake, ticket["session_id"]))
                paid.append(ticket)
            one = str(paid[0]["ticket_id"])
            measured: list[tuple[str, str, float, str, list[dict[str, Any]]]] = [
                (
                    "POST /api/payments/create-payment-intent/",
                    "free ticket (QR drawn)",
                    QR_TARGET_MS,
                    "create_ticket_checkout",
                    [api_event("create_ticket_checkout", {"event_id": free_event, "quantity": 1}) for _ in range(total)],
                ),
                (
                    "POST /api/payments/create-payment-intent/",
                    "free ticket, 64 seat shards",
                    QR_TARGET_MS,
                    "create_ticket_checkout",
                    [api_event("create_ticket_checkout", {"event_id": on_sale, "quantity": 1}) for _ in range(total)],
                ),
                (
                    "POST /api/payments/verify/",
                    "paid by the webhook (QR kept)",
                    QR_TARGET_MS,
                    "verify_ticket_payment",
                    [api_event("verify_ticket_payment", {"session_id": t["session_id"], "ticket_id": t["ticket_id"]}) for t in paid],
                ),
                (
                    "GET /api/tickets/{id}/",
                    "a paid ticket (QR kept)",
                    QR_TARGET_MS,
                    "get_ticket",
                    [api_event("get_ticket", path_params={"ticket_id": one}) for _ in range(total)],
                ),
                ("GET /api/tickets/", "a page of 20", TARGET_MS, "list_my_tickets", [api_event("list_my_tickets") for _ in range(total)]),
                (
                    "POST /api/tickets/check-in/",
                    "one person",
                    TARGET_MS,
                    "check_in_ticket",
                    [
                        api_event(
                            "check_in_ticket",
                            {"ticket_code": t["ticket_code"], "event_id": paid_event, "count": 1},
                            user="door",
                            groups=STAFF,
                        )
                        for t in paid
                    ],
                ),
                (
                    "GET /api/events/{id}/",
                    "an event",
                    TARGET_MS,
                    "get_event",
                    [api_event("get_event", path_params={"event_id": str(free_event)}) for _ in range(total)],
                ),
            ]
            for route, flow, target, function, events in measured:
                total_ms, sdk_ms = cpu_ms(function, events, args.warm)
                rows.append((route, flow, total_ms, sdk_ms, target))
        finally:
            sys.stdout = stdout
    print(f"Warm CPU per request (handler thread, median of {args.requests} after {args.warm} warm-up requests), in ms:")
    print(f"{'route':<44} {'flow':<30} {'total':>6} {'SDK':>6} {'ours':>6} {'target':>7}")
    for route, flow, total_ms, sdk_ms, target in rows:
        ours = total_ms - sdk_ms
        print(
            f"{route:<44} {flow:<30} {total_ms:>6.2f} {sdk_ms:>6.2f} {ours:>6.2f} {'< ' + format(target, '.0f'):>7}{'' if ours < target else '  MISSED'}"
        )
    return 0 if all(total_ms - sdk_ms < target for _, _, total_ms, sdk_ms, target in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
