"""The Checkout Session slots' store (``payments.domain.pacing.SessionSlotStore``) held to one
contract in both worlds: the DynamoDB repository over moto and its in-memory twin."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from payments.domain.pacing import SessionSlotStore
from payments.dynamodb import from_item
from payments.repositories.stripe_slots import StripeSlotRepository, slot_key
from tests.support.memory_stores import MemorySessionSlots

SLOT = 43_200_000_000  # about 2026 at 24 slots a second


@pytest.fixture(params=["memory", "moto"])
def slots(request: pytest.FixtureRequest) -> Iterator[SessionSlotStore]:
    if request.param == "memory":
        yield MemorySessionSlots()
        return
    from local.template import create_tables
    from tests.support.moto_direct import MotoDirect

    client: Any = MotoDirect()
    names = {"TicketsTable": "slots-tickets", "PaymentsTable": "slots-payments", "IdempotencyTable": "slots-idem"}
    create_tables(client, names, skip={names["PaymentsTable"], names["IdempotencyTable"]})
    try:
        yield StripeSlotRepository(client, names["TicketsTable"])
    finally:
        client.delete_table(TableName=names["TicketsTable"])


def test_a_slot_is_claimed_once_and_a_second_claim_is_refused(slots: SessionSlotStore) -> None:
    assert slots.claim(SLOT, 1_800_000_300)
    assert not slots.claim(SLOT, 1_800_000_999)
    assert slots.claim(SLOT + 1, 1_800_000_300)


def test_a_slot_freed_is_free_again_and_freeing_a_free_slot_is_harmless(slots: SessionSlotStore) -> None:
    assert slots.claim(SLOT, 1_800_000_300)
    slots.free(SLOT)
    assert slots.taken([SLOT]) == set()
    assert slots.claim(SLOT, 1_800_000_300)
    slots.free(SLOT + 9)
    assert slots.taken([SLOT, SLOT + 9]) == {SLOT}


def test_taken_names_exactly_the_slots_claimed_among_those_asked(slots: SessionSlotStore) -> None:
    assert slots.taken(range(SLOT, SLOT + 5)) == set()
    slots.claim(SLOT + 1, 1_800_000_300)
    slots.claim(SLOT + 3, 1_800_000_300)
    slots.claim(SLOT + 200, 1_800_000_300)
    assert slots.taken(range(SLOT, SLOT + 5)) == {SLOT + 1, SLOT + 3}
    # More than one read's worth (BatchGetItem takes 100 keys).
    assert slots.taken(range(SLOT, SLOT + 250)) == {SLOT + 1, SLOT + 3, SLOT + 200}


def test_the_item_is_its_own_partition_with_the_tables_ttl() -> None:
    from local.template import create_tables
    from tests.support.moto_direct import MotoDirect

    client: Any = MotoDirect()
    names = {"TicketsTable": "slots-ttl", "PaymentsTable": "slots-ttl-p", "IdempotencyTable": "slots-ttl-i"}
    create_tables(client, names, skip={names["PaymentsTable"], names["IdempotencyTable"]})
    try:
        StripeSlotRepository(client, names["TicketsTable"]).claim(SLOT, 1_800_000_300)
        ttl = client.describe_time_to_live(TableName=names["TicketsTable"])["TimeToLiveDescription"]
        assert (ttl["AttributeName"], ttl["TimeToLiveStatus"]) == ("ttl", "ENABLED")
        item = from_item(client.get_item(TableName=names["TicketsTable"], Key=slot_key(SLOT))["Item"])
        assert (item["pk"], item["sk"], item["ttl"]) == (f"STRIPE#SLOT#{SLOT}", "SLOT", 1_800_000_300)
    finally:
        client.delete_table(TableName=names["TicketsTable"])
