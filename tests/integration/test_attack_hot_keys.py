"""Attack on the hot-key spread of the tickets repository: seat shards under partition keys of their
own, ticket ids from 16 counters, the unsettled index in 16 buckets. Strict xfails are real findings;
the passing tests are attacks that held. The three findings about tables written before the change
(seats at the old key, a reservation that could not expire, the legacy counter in the rollout) pass
since the migration (``migrations.hot_keys``), which they run first."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from migrations.hot_keys import migrate
from payments.domain.lifecycle import Event, Ticket, TicketStatus
from payments.domain.ports import SoldOut
from payments.repositories import tickets as repo_module
from payments.repositories.tickets import TicketRepository
from tests.support.store_worlds import DynamoWorld, moto_world


@pytest.fixture
def world() -> Iterator[DynamoWorld]:
    with moto_world() as made:
        yield made


def _repo(world: DynamoWorld) -> TicketRepository:
    repo = world.tickets
    assert isinstance(repo, TicketRepository)
    return repo


def _event(event_id: int, capacity: int, shards: int) -> Event:
    return Event(event_id, "gig", Decimal("10.00"), "eur", capacity, capacity, "org", 1, seat_shards=shards)


def _ticket(ticket_id: int, event_id: int, quantity: int = 1, expires_at: int = 100) -> Ticket:
    return Ticket(
        ticket_id,
        event_id,
        f"buyer-{ticket_id}",
        quantity,
        TicketStatus.RESERVED,
        f"code-{ticket_id}",
        "eur",
        1000,
        1,
        expires_at=expires_at,
    )


# seats -----------------------------------------------------------------------------------------


def test_sharded_event_never_oversold_by_stale_plans(world: DynamoWorld) -> None:
    """Buyers planning from one stale read of the seats: the per-shard condition refuses the rest."""
    repo = _repo(world)
    repo.put_event(_event(1, 12, 4))
    stale = repo.get_event(1)
    assert stale is not None and stale.seats_by_shard is not None
    sold = 0
    for number in range(1, 30):
        try:
            repo.create(_ticket(number, 1, quantity=2), 1000, dict(stale.seats_by_shard), free_limit=0)
            sold += 2
        except SoldOut:
            pass
    seats = world.inspect.seats(1)
    assert sold == 12 and all(left == 0 for left in seats.values()), seats


def test_throttled_batch_read_is_a_503_code_not_missing_seats(world: DynamoWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(world)
    repo.put_event(_event(2, 40, 4))
    real = repo._client

    class Throttling:
        def __getattr__(self, name: str) -> Any:
            if name == "batch_get_item":

                def unprocessed(**request: Any) -> Any:
                    return {"Responses": {}, "UnprocessedKeys": request["RequestItems"]}

                return unprocessed
            return getattr(real, name)

    monkeypatch.setattr(repo_module, "BATCH_READ_BUDGET_SECONDS", 0.01)
    repo._client = Throttling()  # type: ignore[assignment]
    with pytest.raises(ClientError) as raised:
        repo.get_event(2)
    assert raised.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"


def test_shard_item_absent_fails_the_read_not_undercounts(world: DynamoWorld) -> None:
    repo = _repo(world)
    repo.put_event(_event(3, 40, 4))
    world.tickets._client.delete_item(  # type: ignore[attr-defined]
        TableName=repo._tickets, Key={"pk": {"S": "EVENT#3#SEATS#2"}, "sk": {"S": "SEATS#2"}}
    )
    with pytest.raises(Exception):  # noqa: B017 - any failure beats a silent undercount
        repo.get_event(3)


def test_event_sharded_before_the_change_reads_all_its_seats(world: DynamoWorld) -> None:
    """Found: a sharded event written before the change kept its shards at pk EVENT#<id>, sk SEATS#<n>;
    the new reader asks EVENT#<id>#SEATS#<n> and found nothing. Fixed by the migration, run first."""
    repo = _repo(world)
    repo.put_event(_event(4, 40, 4))  # 10 seats per shard
    client: Any = repo._client
    for shard in (1, 2, 3):  # move the shards to where the code before the change kept them
        key = {"pk": {"S": f"EVENT#4#SEATS#{shard}"}, "sk": {"S": f"SEATS#{shard}"}}
        item = client.get_item(TableName=repo._tickets, Key=key)["Item"]
        client.delete_item(TableName=repo._tickets, Key=key)
        client.put_item(TableName=repo._tickets, Item={**item, "pk": {"S": "EVENT#4"}})
    migrate(client, repo._tickets)
    event = repo.get_event(4)
    assert event is not None
    assert event.available == 40, event.seats_by_shard


def test_reservation_made_before_the_change_expires_and_gives_its_seats_back(world: DynamoWorld) -> None:
    """Found: a reservation on a shard of an event written before the change could not expire (the
    give-back is conditioned on attribute_exists(pk) at the new key: SoldOut forever). Fixed by the
    migration, run first."""
    from payments.domain.lifecycle import Trigger

    repo = _repo(world)
    repo.put_event(_event(6, 40, 4))
    made = repo.create(_ticket(1, 6, quantity=10, expires_at=50), 1000, {0: 0, 1: 0, 2: 10, 3: 0}, free_limit=0)
    assert made.seat_parts == {2: 10}
    client: Any = repo._client
    for shard in (1, 2, 3):
        key = {"pk": {"S": f"EVENT#6#SEATS#{shard}"}, "sk": {"S": f"SEATS#{shard}"}}
        item = client.get_item(TableName=repo._tickets, Key=key)["Item"]
        client.delete_item(TableName=repo._tickets, Key=key)
        client.put_item(TableName=repo._tickets, Item={**item, "pk": {"S": "EVENT#6"}})
    migrate(client, repo._tickets)
    current = repo.get_ticket(1)
    assert current is not None
    expired = repo.apply(current, Trigger.EXPIRE, {"released_at": 60}, expired_before=60)
    assert expired.status == TicketStatus.EXPIRED
    assert repo.availability(6) == {0: 10, 1: 10, 2: 10, 3: 10}


def test_one_stuck_reservation_does_not_stop_the_sweep(world: DynamoWorld) -> None:
    from payments.domain.tickets import TicketService
    from payments.settings import get_settings

    repo = _repo(world)
    repo.put_event(_event(7, 40, 4))
    repo.put_event(_event(8, 40, 1))
    repo.create(_ticket(1, 7, quantity=10, expires_at=50), 1000, {0: 0, 1: 10, 2: 0, 3: 0}, free_limit=0)
    repo.create(_ticket(2, 8, quantity=1, expires_at=60), 1000, free_limit=0)
    client: Any = repo._client
    key = {"pk": {"S": "EVENT#7#SEATS#1"}, "sk": {"S": "SEATS#1"}}
    item = client.get_item(TableName=repo._tickets, Key=key)["Item"]
    client.delete_item(TableName=repo._tickets, Key=key)
    client.put_item(TableName=repo._tickets, Item={**item, "pk": {"S": "EVENT#7"}})

    def no_stripe() -> Any:
        raise AssertionError("no session: Stripe is not asked")

    service = TicketService(repo, no_stripe, get_settings(), clock=lambda: 10**9)
    report = service.sweep_expired()
    assert 2 in report.ticket_ids


# ids -------------------------------------------------------------------------------------------


def test_counters_never_give_one_id_twice_over_a_legacy_counter(world: DynamoWorld) -> None:
    repo = _repo(world)
    client: Any = repo._client
    client.put_item(TableName=repo._tickets, Item={"pk": {"S": "COUNTER#ticket"}, "sk": {"S": "COUNTER"}, "value": {"N": "3250"}})
    seen: set[int] = set()
    for shard in range(16):
        for _ in range(3):
            container = TicketRepository(client, repo._tickets, repo._payments)
            container._counter_shard["ticket"] = shard
            ids = [container.next_id("ticket") for _ in range(150)]  # two blocks
            assert ids == sorted(ids)
            assert not seen & set(ids)
            assert min(ids) > 3250
            seen |= set(ids)


def test_old_container_during_rollout_does_not_collide(world: DynamoWorld) -> None:
    """Found (deploy window): a container still on the old code kept ADDing to COUNTER#ticket after a
    new counter was floored from it, and handed out ids the new counter also gave. Fixed by the
    migration, run before the deploy: the new counters start above the legacy one plus a margin."""
    repo = _repo(world)
    client: Any = repo._client
    client.put_item(TableName=repo._tickets, Item={"pk": {"S": "COUNTER#ticket"}, "sk": {"S": "COUNTER"}, "value": {"N": "100"}})
    migrate(client, repo._tickets, only=("counters",))
    new = TicketRepository(client, repo._tickets, repo._payments)
    new._counter_shard["ticket"] = 1
    new_ids = {new.next_id("ticket") for _ in range(100)}  # without the migration: floor 1 round, block 17, ids 1701-1800
    old_ids: set[int] = set()
    for _ in range(40):  # the old code: one ADD of a block on the one counter
        last = repo._add_to_counter("ticket", repo_module.ID_BLOCK)
        old_ids |= set(range(last - repo_module.ID_BLOCK + 1, last + 1))
    assert not new_ids & old_ids


# unsettled -------------------------------------------------------------------------------------


def test_unsettled_merges_every_bucket_and_the_bare_status_in_expiry_order(world: DynamoWorld) -> None:
    repo = _repo(world)
    repo.put_event(_event(5, 500, 1))
    expiries: dict[int, int] = {}
    for number in range(1, 61):
        expires = 1000 + (number * 37) % 61
        repo.create(_ticket(number, 5, expires_at=expires), 1000, free_limit=0)
        expiries[number] = expires
    client: Any = repo._client
    for number in (7, 23):  # two entries as written before the buckets
        client.update_item(
            TableName=repo._tickets,
            Key={"pk": {"S": f"TICKET#{number}"}, "sk": {"S": "TICKET"}},
            UpdateExpression="SET unsettled_status = :bare",
            ExpressionAttributeValues={":bare": {"S": "reserved"}},
        )
    everything = repo.unsettled(TicketStatus.RESERVED, limit=1000)
    assert sorted(t.ticket_id for t in everything) == list(range(1, 61))
    assert [t.expires_at for t in everything] == sorted(expiries.values())
    for limit in (1, 3, 17, 59):
        page = repo.unsettled(TicketStatus.RESERVED, limit=limit)
        assert [t.expires_at for t in page] == sorted(expiries.values())[:limit]
    cutoff = 1030
    due = repo.unsettled(TicketStatus.RESERVED, expired_before=cutoff, limit=5)
    assert [t.expires_at for t in due] == sorted(e for e in expiries.values() if e <= cutoff)[:5]


def test_a_sharded_purchase_plans_again_until_its_last_attempt() -> None:
    # Each shard emptied under the plan (SoldOut) is planned again: SEAT_ATTEMPTS tries in all, the last
    # one's SoldOut the answer; an unsharded event has one try.
    from payments.domain.ports import SoldOut

    def emptied_until(succeeds_at: int) -> Any:
        tries = [0]

        def attempt() -> Any:
            tries[0] += 1
            if tries[0] < succeeds_at:
                raise SoldOut()
            return tries[0]

        return attempt

    made: Any = TicketRepository._taking_seats(emptied_until(repo_module.SEAT_ATTEMPTS), sharded=True)
    assert made == repo_module.SEAT_ATTEMPTS  # the attempt's own answer: it succeeded on the last try
    with pytest.raises(SoldOut):
        TicketRepository._taking_seats(emptied_until(repo_module.SEAT_ATTEMPTS + 1), sharded=True)
    with pytest.raises(SoldOut):
        TicketRepository._taking_seats(emptied_until(2), sharded=False)
