"""Hot items on partition keys of their own (issue 31): DynamoDB bounds each partition key to 1,000
write units a second, so an on-sale's writes must not meet on one key. Each seat shard of an event
is an item under a partition key of its own; the reservations' entries in the unsettled index are
spread over several index partitions, and the sweep and the reconciliation still find every one,
oldest expiry first. Read from the raw table items, not through the repository."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.dynamo import TICKETS, Unprocessing, scan
from tests.support.flows import buy, cancel, create_event, get_event


def event_items(dynamodb: Any, event_id: int) -> list[dict[str, Any]]:
    """The event's own item and its seat shards' items, wherever they are keyed."""
    return [item for item in scan(dynamodb, TICKETS) if "shard_capacity" in item and int(item["event_id"]) == event_id]


def test_each_seat_shard_is_an_item_under_a_partition_key_of_its_own(dynamodb, stripe_fake):
    event_id = create_event(price=0, capacity=40, seat_shards=4)
    bought = buy(event_id, 2)
    assert bought.status == 200
    items = event_items(dynamodb, event_id)
    assert len(items) == 4
    assert len({item["pk"] for item in items}) == 4  # no two shards share a partition key
    keys = sorted((item["pk"], item["sk"]) for item in items)
    assert keys == sorted([(f"EVENT#{event_id}", "EVENT")] + [(f"EVENT#{event_id}#SEATS#{shard}", f"SEATS#{shard}") for shard in (1, 2, 3)])
    # The purchase took its seats from these items (no item written elsewhere), and reads add them up.
    assert sum(int(item["available"]) for item in items) == 38
    assert get_event(event_id)["available"] == 38
    assert cancel(bought.body["ticket_id"]).status == 200  # a free ticket given back: its seats return
    assert sum(int(item["available"]) for item in event_items(dynamodb, event_id)) == 40
    assert len(event_items(dynamodb, event_id)) == 4


def test_a_one_shard_event_is_still_its_one_item(dynamodb, stripe_fake):
    event_id = create_event(price=0, capacity=10)
    assert buy(event_id, 3).status == 200
    [item] = event_items(dynamodb, event_id)
    assert (item["pk"], item["sk"], int(item["available"])) == (f"EVENT#{event_id}", "EVENT", 7)


def test_reservations_spread_over_several_unsettled_index_partitions_and_all_are_listed(dynamodb, stripe_fake):
    from payments import wiring
    from payments.domain.lifecycle import TicketStatus

    event_id = create_event(price=25, capacity=100)
    reserved = [buy(event_id, 1, user=f"user-{n}").body["ticket_id"] for n in range(12)]
    values = {item["unsettled_status"] for item in scan(dynamodb, TICKETS) if item.get("ticket_id") in reserved}
    assert len(values) > 1 and all(value.startswith("reserved#") for value in values)
    listed = wiring.ticket_repository().unsettled(TicketStatus.RESERVED, limit=100)
    assert sorted(ticket.ticket_id for ticket in listed) == sorted(reserved)
    expiries = [ticket.expires_at for ticket in listed]
    assert expiries == sorted(expiries)  # oldest expiry first, across the partitions
    assert len(wiring.ticket_repository().unsettled(TicketStatus.RESERVED, limit=5)) == 5


def test_an_entry_written_before_the_index_was_spread_is_still_listed(dynamodb, stripe_fake):
    """A reservation whose index entry is the bare status (as written before the spread) is still
    found by the sweep's and the reconciliation's listing."""
    from payments import wiring
    from payments.domain.lifecycle import TicketStatus

    event_id = create_event(price=25, capacity=10)
    ticket_id = buy(event_id, 1).body["ticket_id"]
    dynamodb.update_item(
        TableName=TICKETS,
        Key={"pk": {"S": f"TICKET#{ticket_id}"}, "sk": {"S": "TICKET"}},
        UpdateExpression="SET unsettled_status = :bare",
        ExpressionAttributeValues={":bare": {"S": "reserved"}},
    )
    listed = wiring.ticket_repository().unsettled(TicketStatus.RESERVED)
    assert [ticket.ticket_id for ticket in listed] == [ticket_id]


def test_ticket_ids_come_from_counters_under_several_partition_keys_unique_and_increasing_per_container(dynamodb):
    """Each new container reserves its first block of ticket ids at scale-out: the blocks come from
    several counter items, each under a partition key of its own, not one."""
    from payments.repositories.tickets import TicketRepository

    containers = [TicketRepository(dynamodb, TICKETS, "payments") for _ in range(40)]
    ids = [[container.next_id("ticket") for _ in range(3)] for container in containers]
    flat = [number for mine in ids for number in mine]
    assert len(set(flat)) == len(flat)
    assert all(mine == sorted(mine) for mine in ids)
    counters = {item["pk"] for item in scan(dynamodb, TICKETS) if str(item["pk"]).startswith("COUNTER#ticket")}
    assert len(counters) > 1


def test_ticket_ids_stay_above_those_a_single_counter_gave_before(dynamodb):
    """A table whose one counter item already gave ids 1..5000 (the layout before the counter was
    spread): the spread counters start above them."""
    from payments.repositories.tickets import TicketRepository

    dynamodb.put_item(TableName=TICKETS, Item={"pk": {"S": "COUNTER#ticket"}, "sk": {"S": "COUNTER"}, "value": {"N": "5000"}})
    containers = [TicketRepository(dynamodb, TICKETS, "payments") for _ in range(20)]
    assert min(container.next_id("ticket") for container in containers) > 5000


def test_shards_left_unprocessed_by_a_batch_read_are_read_again_and_never_missing(dynamodb, stripe_fake, monkeypatch):
    from payments import dynamodb as dynamodb_module
    from payments import retries
    from payments.repositories.tickets import TicketRepository

    monkeypatch.setattr(retries.time, "sleep", lambda _: None)
    event_id = create_event(price=0, capacity=40, seat_shards=4)
    event = TicketRepository(Unprocessing(dynamodb, times=2), TICKETS, "payments").get_event(event_id)
    assert event is not None and event.seats_by_shard == {0: 10, 1: 10, 2: 10, 3: 10} and event.available == 40
    throttled = TicketRepository(Unprocessing(dynamodb, times=10**6), TICKETS, "payments")
    with pytest.raises(Exception) as refused:
        throttled.get_event(event_id)
    assert dynamodb_module.is_unavailable(refused.value)  # a 503 with Retry-After, not seats missing
