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
