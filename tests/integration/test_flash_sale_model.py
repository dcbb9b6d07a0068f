"""The flash-sale load model (benchmarks/flash_sale.py), at a size CI can afford: its DynamoDB
stand-in leaves the same records as moto when nothing contends, and under contention the real
purchase path neither oversells nor answers 5xx, and sheds load with 503 and Retry-After."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from benchmarks import flash_sale
from local import moto_patches


@pytest.fixture(autouse=True)
def patched_moto() -> Iterator[None]:
    moto_patches.install()
    yield
    moto_patches.uninstall()


def test_the_stand_in_leaves_the_records_moto_leaves_when_nothing_contends() -> None:
    assert flash_sale.compare_with_moto(seats=120, buyers=160, shards=4) == 0


def test_a_contended_sale_never_oversells_nor_answers_5xx_and_shards_sell_more() -> None:
    outcomes = []
    for shards in (1, 16):
        with mock_aws():
            outcome, _ = flash_sale.run_sale(seats=1000, buyers=2000, rate=2000, shards=shards)
        outcomes.append(outcome)
    for outcome in outcomes:
        assert outcome.oversold == 0
        assert not [status for status in outcome.answers if status >= 500 and status != 503]
        assert outcome.busy_without_retry_after == 0
        assert sum(outcome.answers.values()) == outcome.buyers
    one, sixteen = outcomes
    assert one.conflicts > 0 and one.answers[503] > sixteen.answers[503]  # one item for every purchase: contention
    assert sixteen.sold == 1000  # spread over sixteen items, the sale sells out


def test_the_stand_in_charges_writes_per_partition_key_not_per_item() -> None:
    """DynamoDB's ceiling of 1,000 write units a second is a partition key's: items of one key share
    it, whatever their sort keys; an item under another key has its own."""
    from botocore.exceptions import ClientError

    from local.template import create_tables
    from tests.support.moto_direct import MotoDirect

    with mock_aws():
        create_tables(boto3.client("dynamodb", region_name="eu-west-1"), flash_sale.TABLES)
        client = flash_sale.ContendedDynamoDB(MotoDirect(), flash_sale.VirtualClock(), write_seconds=0.0)
        table = flash_sale.TABLES["TicketsTable"]

        def add(pk: str, sk: str) -> None:
            client.update_item(
                TableName=table,
                Key={"pk": {"S": pk}, "sk": {"S": sk}},
                UpdateExpression="ADD n :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )

        for number in range(1000):  # a thousand items, one write each, all in the first second
            add("EVENT#1", f"SEATS#{number}")
        with pytest.raises(ClientError, match="Throttling"):
            add("EVENT#1", "SEATS#1000")
        add("EVENT#1#SEATS#1000", "SEATS#1000")  # a partition key of its own: its own ceiling


# The paid on-sale through the queue (benchmarks/paid_sale.py) -------------------------------------


def test_the_stripe_stand_in_answers_429_beyond_a_sliding_second_and_the_gateway_surfaces_it_as_503() -> None:
    """Stripe's per-endpoint limit counts requests in any one second, not per calendar second: 25
    at 0.6 s fill the windows up to 1.6 s, so a request at 1.2 s is refused though its second (1)
    is empty. Through the real gateway, with no time left to back off, the 429 is our 503."""
    import stripe

    from benchmarks import paid_sale
    from payments.errors import ProviderUnavailable
    from payments.providers.stripe_gateway import StripeGateway

    clock = flash_sale.VirtualClock()
    api = paid_sale.StripeStandIn(clock, endpoint_rate=25)
    for _ in range(25):
        api.request(paid_sale.SESSIONS_CREATE, 0.6)
    with pytest.raises(stripe.RateLimitError):
        api.request(paid_sale.SESSIONS_CREATE, 1.2)
    api.request(paid_sale.SESSIONS_CREATE, 1.61)  # the burst's second is over
    assert api.counts["429 endpoint"] == 1 and api.counts[paid_sale.SESSIONS_CREATE] == 26

    clock.now = 1.3  # the burst at 0.6 is within this second
    gateway = StripeGateway(api, retry_budget_seconds=0)  # type: ignore[arg-type]
    with pytest.raises(ProviderUnavailable) as refused:
        gateway.create_checkout_session(
            ticket_id=7,
            product_name="On-sale",
            currency="usd",
            unit_amount=4000,
            quantity=1,
            success_url="https://example.test/ok",
            cancel_url="https://example.test/cancel",
            expires_at=1_800_002_000,
            metadata={"ticket_id": "7"},
            idempotency_key="ticket-checkout-7",
        )
    assert refused.value.status_code == 503
    assert api.counts["429 endpoint"] == 2


def test_a_paid_queued_sale_never_oversells_nor_answers_5xx_and_counts_a_planted_burst_of_stripe_429s() -> None:
    """A small paid on-sale through the queue, the session creation paced by slots: every seat sold
    once, no 5xx, and the only Stripe 429s are those of a burst planted before the sale: 30 session
    requests at one instant, 5 beyond Stripe's 25."""
    from benchmarks import paid_sale

    with mock_aws():
        outcome = paid_sale.run_paid_sale(
            seats=60, buyers=200, stripe_rate=25, arrival_seconds=0.1, shards=4, planted=[0.5] * 30, pace=True
        )
    assert outcome.oversold == 0
    assert outcome.five_xx == 0 and not outcome.failures
    assert outcome.sold == 60
    assert outcome.stripe["429 endpoint"] == 5 and outcome.stripe["429 account"] == 0
    assert outcome.stripe[paid_sale.SESSIONS_CREATE] == 25 + outcome.orders  # one session per order, the burst's 25
    assert outcome.inversions == 0
    assert outcome.most_sessions_a_second <= 25
