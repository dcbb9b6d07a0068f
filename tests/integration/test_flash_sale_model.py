"""The flash-sale load model (benchmarks/flash_sale.py), at a size CI can afford: its DynamoDB
stand-in leaves the same records as moto when nothing contends, and under contention the real
purchase path neither oversells nor answers 5xx, and sheds load with 503 and Retry-After."""

from __future__ import annotations

from collections.abc import Iterator

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
