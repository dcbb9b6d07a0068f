"""A large event's seats over several shard items (issue 14): purchases take from one shard with
enough, or split across shards when none has; releases give seats back where they came from; the
event sells exactly its capacity; ids come in blocks per container."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest

from tests.support.dynamo import PAYMENTS, TICKETS, SerialisedClient, items_with_prefix, scan
from tests.support.flows import STAFF, buy, cancel, create_event, get_event
from tests.support.lambdas import call


def shards(dynamodb: Any, event_id: int) -> dict[int, dict[str, Any]]:
    return {
        0 if item["sk"] == "EVENT" else int(item["sk"].removeprefix("SEATS#")): item
        for item in scan(dynamodb, TICKETS)
        if "shard_capacity" in item and int(item["event_id"]) == event_id  # the event's item and its shards' items
    }


def assert_seats_conserved(dynamodb: Any, event_id: int) -> None:
    """For every shard: seats held by its tickets + seats left == its capacity."""
    held = Counter[int]()
    for item in scan(dynamodb, TICKETS):
        if item["sk"] == "TICKET" and int(item["event_id"]) == event_id and item["status"] in ("reserved", "processing", "paid"):
            for shard, count in (item.get("seat_parts") or {"0": item["quantity"]}).items():
                held[int(shard)] += int(count)
    for shard, item in shards(dynamodb, event_id).items():
        assert int(item["available"]) >= 0
        assert held[shard] + int(item["available"]) == int(item["shard_capacity"]), f"shard {shard}"


def ticket_item(dynamodb: Any, ticket_id: int) -> dict[str, Any]:
    [item] = items_with_prefix(dynamodb, TICKETS, f"TICKET#{ticket_id}")
    return item


def test_an_event_is_split_over_the_shards_asked_for_and_reads_as_one(dynamodb, stripe_fake):
    event_id = create_event(price=0, capacity=10, seat_shards=4)
    assert {shard: int(item["shard_capacity"]) for shard, item in shards(dynamodb, event_id).items()} == {0: 3, 1: 3, 2: 2, 3: 2}
    assert get_event(event_id)["available"] == 10
    from payments import wiring

    listed, _ = wiring.ticket_repository().list_events(10)
    assert [event.available for event in listed if event.event_id == event_id] == [10]


def test_small_events_keep_one_item_and_large_ones_get_a_shard_per_thousand_seats(dynamodb, stripe_fake):
    small = create_event(price=0, capacity=1000)
    large = create_event(price=0, capacity=4500)
    assert list(shards(dynamodb, small)) == [0]
    assert sorted(shards(dynamodb, large)) == [0, 1, 2, 3, 4]
    result = buy(small, 2)
    assert result.status == 200 and "seat_parts" not in ticket_item(dynamodb, result.body["ticket_id"])


def test_a_ticket_larger_than_any_shards_remainder_is_split_and_released_where_it_came_from(dynamodb, stripe_fake):
    event_id = create_event(price=0, capacity=8, seat_shards=4)  # 2 seats per shard
    first = buy(event_id, 1, user="user-a")
    split = buy(event_id, 5, user="user-b")  # no shard has 5: taken from several in one transaction
    assert (first.status, split.status) == (200, 200)
    parts = ticket_item(dynamodb, split.body["ticket_id"])["seat_parts"]
    assert sum(int(count) for count in parts.values()) == 5 and len(parts) >= 3
    assert get_event(event_id)["available"] == 2
    assert_seats_conserved(dynamodb, event_id)
    refused = buy(event_id, 3, user="user-c")
    assert (refused.status, refused.body) == (400, {"error": "Not enough tickets available: 2 left"})
    assert buy(event_id, 2, user="user-c").status == 200  # the last two, wherever they are
    assert get_event(event_id)["available"] == 0
    assert_seats_conserved(dynamodb, event_id)


def test_cancelled_reservations_give_their_seats_back_to_their_own_shards(dynamodb, stripe_fake):
    event_id = create_event(price=25, capacity=6, seat_shards=3)
    reserved = [buy(event_id, 2, user=f"user-{n}") for n in range(3)]
    assert [result.status for result in reserved] == [200, 200, 200]
    assert get_event(event_id)["available"] == 0
    cancelled = reserved[1].body["ticket_id"]
    shard_of_cancelled = {int(shard) for shard in ticket_item(dynamodb, cancelled)["seat_parts"]}
    assert cancel(cancelled, user="user-1").status == 200
    freed = {shard for shard, item in shards(dynamodb, event_id).items() if int(item["available"]) > 0}
    assert freed == shard_of_cancelled
    assert_seats_conserved(dynamodb, event_id)


def test_many_buyers_of_a_sharded_event_buy_exactly_its_capacity(dynamodb, stripe_fake, monkeypatch):
    from payments import dynamodb as layer_dynamodb
    from payments import wiring

    serialised = SerialisedClient(dynamodb)
    wiring.reset()
    monkeypatch.setattr(layer_dynamodb, "get_client", lambda: serialised)
    event_id = create_event(price=0, capacity=20, seat_shards=4)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda n: buy(event_id, 1 + n % 3, user=f"user-{n}"), range(40)))
    sold = sum(1 + n % 3 for n, result in enumerate(results) if result.status == 200)
    assert {result.status for result in results} <= {200, 400}
    assert sold == 20 - get_event(event_id)["available"]
    assert get_event(event_id)["available"] < 3  # it sold out, up to a remainder no later buyer could fit
    assert_seats_conserved(dynamodb, event_id)


@pytest.mark.parametrize(("shards_asked", "field_error"), [(0, "seat_shards"), (65, "seat_shards"), (11, "seat_shards")])
def test_seat_shards_out_of_range_are_refused(dynamodb, stripe_fake, shards_asked, field_error):
    body = {"name": "Gala", "price": 0, "currency": "usd", "capacity": 10, "seat_shards": shards_asked}
    result = call("create_event", body, user="user-staff", groups=STAFF)
    assert result.status == 400 and result.body["error"].startswith(f"{field_error}:")
    assert items_with_prefix(dynamodb, TICKETS, "EVENT#") == []


def test_ids_come_in_blocks_per_container_unique_across_containers(dynamodb):
    from payments.repositories.tickets import ID_BLOCK, TicketRepository

    first, second = (TicketRepository(dynamodb, TICKETS, PAYMENTS) for _ in range(2))
    ids = [(repository.next_id("ticket"), name) for _ in range(150) for repository, name in ((first, "a"), (second, "b"))]
    numbers = [number for number, _ in ids]
    assert len(set(numbers)) == len(numbers)
    for name in ("a", "b"):
        mine = [number for number, owner in ids if owner == name]
        assert mine == sorted(mine)
    # 300 ids took four reservations, not 300 writes (of ID_BLOCK ids each, counted in the one or two
    # counter items the two containers drew)
    counters = items_with_prefix(dynamodb, TICKETS, "COUNTER#ticket#")
    assert sum(int(counter["value"]) for counter in counters) * ID_BLOCK == 4 * ID_BLOCK


def test_a_shard_emptied_between_the_plan_and_the_write_is_planned_again(dynamodb, stripe_fake, monkeypatch):
    """Another buyer took the planned shard's last seats after this purchase read them: the purchase
    reads again and takes its seats elsewhere, instead of answering sold out with seats left."""
    from payments.repositories import tickets

    event_id = create_event(price=0, capacity=4, seat_shards=2)  # 2 + 2
    monkeypatch.setattr(tickets.secrets, "randbelow", lambda _: 0)  # every plan starts at shard 0
    assert buy(event_id, 2, user="user-a").status == 200  # shard 0 now empty
    real_event, real_availability = tickets.TicketRepository.get_event, tickets.TicketRepository.availability
    reads = []

    def stale_event(self, wanted):  # the read the purchase plans from, taken before buyer a's write
        reads.append(wanted)
        return replace(real_event(self, wanted), seats_by_shard={0: 2, 1: 2}, available=4)

    def fresh_availability(self, wanted):
        reads.append(wanted)
        return real_availability(self, wanted)

    monkeypatch.setattr(tickets.TicketRepository, "get_event", stale_event)
    monkeypatch.setattr(tickets.TicketRepository, "availability", fresh_availability)
    result = buy(event_id, 2, user="user-b")
    assert result.status == 200 and len(reads) == 2
    assert ticket_item(dynamodb, result.body["ticket_id"])["seat_parts"] == {"1": 2}
    assert_seats_conserved(dynamodb, event_id)
