"""The migration of a tickets table written before the hot-key change (``migrations.hot_keys``,
issue 31): seat shards moved to partition keys of their own, the unsettled index re-keyed into its
buckets, the ticket-id counters floored above the legacy counter. Tables are built with the
repository of today, then put back into the shape the code before the change wrote."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from migrations.hot_keys import ID_MARGIN, main, migrate, tickets_table_for_stage
from payments.domain.lifecycle import Event, Ticket, TicketStatus, Trigger
from payments.repositories import tickets as repo_module
from payments.repositories.tickets import TicketRepository
from tests.support.store_worlds import DynamoWorld, moto_world

LEGACY_COUNTER = {"pk": {"S": "COUNTER#ticket"}, "sk": {"S": "COUNTER"}}
# Given: what each event of the legacy fixture holds (id: capacity, shards).
EVENTS = {1: (40, 4), 2: (90, 3), 3: (12, 1)}
PROCESSING = 6  # the one ticket paid by a delayed method; of the others, every fourth is paid


@pytest.fixture
def world() -> Iterator[DynamoWorld]:
    with moto_world() as made:
        yield made


def _repo(world: DynamoWorld) -> TicketRepository:
    repo = world.tickets
    assert isinstance(repo, TicketRepository)
    return repo


def _client(world: DynamoWorld) -> Any:
    return _repo(world)._client


def _table(world: DynamoWorld) -> str:
    return _repo(world)._tickets


def _event(event_id: int, capacity: int, shards: int) -> Event:
    return Event(event_id, "gig", Decimal("10.00"), "eur", capacity, capacity, "org", 1, seat_shards=shards)


def _ticket(ticket_id: int, event_id: int, quantity: int, status: TicketStatus = TicketStatus.RESERVED) -> Ticket:
    return Ticket(
        ticket_id, event_id, f"buyer-{ticket_id}", quantity, status, f"code-{ticket_id}", "eur", 1000, 1, expires_at=100 + ticket_id
    )


def _snapshot(world: DynamoWorld) -> list[dict[str, Any]]:
    """Every item of the tickets table, in key order."""
    client, items, request = _client(world), [], {"TableName": _table(world)}
    while True:
        page = client.scan(**request)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _to_legacy_shards(world: DynamoWorld, event_id: int, shards: int) -> None:
    """The event's shards moved back to where the code before the change kept them (pk EVENT#<id>)."""
    client, table = _client(world), _table(world)
    for shard in range(1, shards):
        key = {"pk": {"S": f"EVENT#{event_id}#SEATS#{shard}"}, "sk": {"S": f"SEATS#{shard}"}}
        item = client.get_item(TableName=table, Key=key)["Item"]
        client.delete_item(TableName=table, Key=key)
        client.put_item(TableName=table, Item={**item, "pk": {"S": f"EVENT#{event_id}"}})


def _to_bare_index(world: DynamoWorld, ticket_id: int) -> None:
    """The ticket's unsettled index entry keyed as before the buckets: its bare status."""
    client = _client(world)
    item = client.get_item(TableName=_table(world), Key={"pk": {"S": f"TICKET#{ticket_id}"}, "sk": {"S": "TICKET"}})["Item"]
    client.update_item(
        TableName=_table(world),
        Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression="SET unsettled_status = :bare",
        ExpressionAttributeValues={":bare": item["status"]},
    )


def _legacy_table(world: DynamoWorld, counter: int = 3250) -> dict[int, int]:
    """Three events (two sharded), reserved, processing and paid tickets on them, every unsettled
    entry bare, the one legacy id counter: a table as the code before the change left it. Returns
    the seats left per event."""
    repo = _repo(world)
    for event_id, (capacity, shards) in EVENTS.items():
        repo.put_event(_event(event_id, capacity, shards))
    ticket_id = 0
    for event_id in EVENTS:
        for quantity in (1, 2, 3, 4):
            ticket_id += 1
            made = repo.create(_ticket(ticket_id, event_id, quantity), 1000, repo.availability(event_id), free_limit=0)
            if ticket_id % 4 == 0:
                repo.apply(made, Trigger.PAID, {"paid_at": 5, "session_id": f"cs_{ticket_id}"})
            elif ticket_id == PROCESSING:
                repo.apply(made, Trigger.PAYMENT_PROCESSING, {"session_id": f"cs_{ticket_id}"})
    left = {event_id: sum(repo.availability(event_id).values()) for event_id in EVENTS}
    for event_id, (_, shards) in EVENTS.items():
        _to_legacy_shards(world, event_id, shards)
    for number in range(1, ticket_id + 1):
        if number % 4:
            _to_bare_index(world, number)
    _client(world).put_item(TableName=_table(world), Item={**LEGACY_COUNTER, "value": {"N": str(counter)}})
    return left


def _legacy_items(world: DynamoWorld) -> list[dict[str, Any]]:
    """Items still in a shape the code before the change wrote."""
    return [
        item
        for item in _snapshot(world)
        if (item["sk"]["S"].startswith("SEATS#") and "#SEATS#" not in item["pk"]["S"])
        or ("#" not in item.get("unsettled_status", {}).get("S", "#"))
    ]


def _assert_migrated(world: DynamoWorld, left: dict[int, int]) -> None:
    repo = _repo(world)
    assert _legacy_items(world) == []
    for event_id, seats in left.items():
        event = repo.get_event(event_id)
        assert event is not None and event.available == seats, (event_id, event)
    reserved = repo.unsettled(TicketStatus.RESERVED, limit=1000)
    assert sorted(t.ticket_id for t in reserved) == [n for n in range(1, 13) if n % 4 and n != PROCESSING]
    assert [t.ticket_id for t in repo.unsettled(TicketStatus.PROCESSING)] == [PROCESSING]
    counters = [_client(world).get_item(TableName=_table(world), Key=_counter_key(n))["Item"] for n in range(16)]
    assert {int(item["value"]["N"]) for item in counters} == {_floor(3250)}


def _counter_key(shard: int) -> dict[str, Any]:
    return {"pk": {"S": f"COUNTER#ticket#{shard}"}, "sk": {"S": "COUNTER"}}


def _floor(legacy: int) -> int:
    """The round every new counter starts at: above the legacy counter plus the margin."""
    per_round = repo_module.ID_BLOCK * repo_module.COUNTER_SHARDS["ticket"]
    return -(-(legacy + ID_MARGIN) // per_round)


class CrashAfter:
    """A client that fails its ``writes``-th write and every one after (a migration killed half-way)."""

    WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")

    def __init__(self, client: Any, writes: int) -> None:
        self._client, self._left = client, writes

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)
        if name not in self.WRITES:
            return call

        def counted(**request: Any) -> Any:
            self._left -= 1
            if self._left < 0:
                raise RuntimeError("killed half-way")
            return call(**request)

        return counted


# the whole table ---------------------------------------------------------------------------------


def test_migration_moves_every_legacy_item_and_conserves_seats(world: DynamoWorld) -> None:
    left = _legacy_table(world)
    on_legacy_shards = sum(int(item["available"]["N"]) for item in _legacy_items(world) if "available" in item)
    report = migrate(_client(world), _table(world))
    assert (report.seat_shards_moved, report.seats_moved) == (3 + 2, on_legacy_shards)
    assert report.index_entries_rekeyed == 9
    assert report.counters_floored == 16 and report.conflicts == []
    _assert_migrated(world, left)


def test_a_second_run_changes_nothing(world: DynamoWorld) -> None:
    _legacy_table(world)
    migrate(_client(world), _table(world))
    after_first = _snapshot(world)
    again = migrate(_client(world), _table(world))
    assert again.writes == 0, again
    assert _snapshot(world) == after_first


def test_dry_run_counts_what_a_run_would_do_and_writes_nothing(world: DynamoWorld) -> None:
    _legacy_table(world)
    before = _snapshot(world)
    dry = migrate(_client(world), _table(world), dry_run=True)
    assert _snapshot(world) == before
    real = migrate(_client(world), _table(world))
    assert (dry.seat_shards_moved, dry.seats_moved, dry.index_entries_rekeyed, dry.counters_floored) == (
        real.seat_shards_moved,
        real.seats_moved,
        real.index_entries_rekeyed,
        real.counters_floored,
    )
    assert dry.writes == 0 and dry.would_write == real.writes > 0


@pytest.mark.parametrize("writes", [0, 1, 4, 9, 17, 23])
def test_a_run_killed_half_way_is_finished_by_the_next(writes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "randbelow", lambda _: 0)  # both tables' seats planned alike
    with moto_world() as crashed, moto_world() as clean:
        left = _legacy_table(crashed)
        _legacy_table(clean)
        with pytest.raises(RuntimeError, match="killed half-way"):
            migrate(CrashAfter(_client(crashed), writes), _table(crashed))
        assert _legacy_items(crashed), "the crash came before the end"
        migrate(_client(crashed), _table(crashed))
        migrate(_client(clean), _table(clean))
        _assert_migrated(crashed, left)
        assert _snapshot(crashed) == _snapshot(clean)


def test_a_table_with_no_legacy_items_is_untouched(world: DynamoWorld) -> None:
    repo = _repo(world)
    repo.put_event(_event(1, 40, 4))
    for number in (1, 2, 3):
        repo.create(_ticket(repo.next_id("ticket"), 1, number), 1000, repo.availability(1), free_limit=0)
    before = _snapshot(world)
    report = migrate(_client(world), _table(world))
    assert report.writes == 0 and report.would_write == 0, report
    assert _snapshot(world) == before


# seats -------------------------------------------------------------------------------------------


class SellsDuringTheMove:
    """The code before the change sells seats from a legacy shard between the migration's scan and
    its move: the move, conditioned on the item as read, must carry the seats left after the sale."""

    def __init__(self, client: Any, table: str, key: dict[str, Any], sold: int) -> None:
        self._client, self._table, self._key, self._sold = client, table, key, sold

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)
        if name != "transact_write_items":
            return call

        def sell_first(**request: Any) -> Any:
            if self._sold:
                self._client.update_item(
                    TableName=self._table,
                    Key=self._key,
                    UpdateExpression="SET available = available - :q",
                    ConditionExpression="attribute_exists(pk) AND available >= :q",
                    ExpressionAttributeValues={":q": {"N": str(self._sold)}},
                )
                self._sold = 0
            return call(**request)

        return sell_first


def test_seats_sold_by_the_old_code_during_the_move_are_not_given_back(world: DynamoWorld) -> None:
    repo = _repo(world)
    repo.put_event(_event(9, 40, 2))
    _to_legacy_shards(world, 9, 2)
    selling = SellsDuringTheMove(_client(world), _table(world), {"pk": {"S": "EVENT#9"}, "sk": {"S": "SEATS#1"}}, sold=7)
    report = migrate(selling, _table(world))
    assert report.seat_shards_moved == 1 and report.seats_moved == 13
    assert repo.availability(9) == {0: 20, 1: 13}


def test_a_shard_at_both_keys_is_reported_and_neither_touched(world: DynamoWorld, capsys: pytest.CaptureFixture[str]) -> None:
    repo = _repo(world)
    repo.put_event(_event(10, 40, 2))
    item = _client(world).get_item(TableName=_table(world), Key={"pk": {"S": "EVENT#10#SEATS#1"}, "sk": {"S": "SEATS#1"}})["Item"]
    _client(world).put_item(TableName=_table(world), Item={**item, "pk": {"S": "EVENT#10"}})  # a second copy of its seats
    before = _snapshot(world)
    code = main(["--table", _table(world)], client=_client(world))
    assert code == 1
    assert _snapshot(world) == before
    out = capsys.readouterr().out
    assert "EVENT#10 SEATS#1" in out and "conflict" in out


def test_a_reservation_made_before_the_change_expires_after_the_migration(world: DynamoWorld) -> None:
    repo = _repo(world)
    repo.put_event(_event(6, 40, 4))
    made = repo.create(_ticket(1, 6, quantity=10), 1000, {0: 0, 1: 0, 2: 10, 3: 0}, free_limit=0)
    assert made.seat_parts == {2: 10}
    _to_legacy_shards(world, 6, 4)
    _to_bare_index(world, 1)
    migrate(_client(world), _table(world))
    [due] = repo.unsettled(TicketStatus.RESERVED, expired_before=200)
    expired = repo.apply(due, Trigger.EXPIRE, {"released_at": 200}, expired_before=200)
    assert expired.status == TicketStatus.EXPIRED
    assert repo.availability(6) == {0: 10, 1: 10, 2: 10, 3: 10}
    assert repo.unsettled(TicketStatus.RESERVED) == []


# ids ---------------------------------------------------------------------------------------------


def _old_container_blocks(repo: TicketRepository, blocks: int) -> set[int]:
    """What a container on the code before the change hands out: one ADD of a block on the one counter."""
    ids: set[int] = set()
    for _ in range(blocks):
        last = repo._add_to_counter("ticket", repo_module.ID_BLOCK)
        ids |= set(range(last - repo_module.ID_BLOCK + 1, last + 1))
    return ids


def test_new_counters_start_above_the_legacy_counter_plus_the_margin(world: DynamoWorld) -> None:
    repo = _repo(world)
    _client(world).put_item(TableName=_table(world), Item={**LEGACY_COUNTER, "value": {"N": "3250"}})
    migrate(_client(world), _table(world))
    new_ids: set[int] = set()
    for shard in range(16):
        container = TicketRepository(_client(world), _table(world), repo._payments)
        container._counter_shard["ticket"] = shard
        new_ids |= {container.next_id("ticket") for _ in range(150)}
    assert ID_MARGIN == 1_000_000  # as docs/operations.md states it
    assert min(new_ids) > 3250 + 1_000_000  # the old code climbs from 3250: a million ids before it could reach them
    old_ids = _old_container_blocks(repo, 40)
    assert not new_ids & old_ids
    # The last block the old code gives inside the margin is still below every new id.
    _client(world).put_item(TableName=_table(world), Item={**LEGACY_COUNTER, "value": {"N": str(3250 + 1_000_000 - 100)}})
    assert max(_old_container_blocks(repo, 1)) < min(new_ids)


def test_a_run_while_the_new_code_serves_raises_the_legacy_counter_above_its_ids(world: DynamoWorld) -> None:
    repo = _repo(world)
    _client(world).put_item(TableName=_table(world), Item={**LEGACY_COUNTER, "value": {"N": "100"}})
    early = TicketRepository(_client(world), _table(world), repo._payments)
    early._counter_shard["ticket"] = 3
    early_ids = {early.next_id("ticket") for _ in range(250)}  # the new code's own floor: just above 100
    report = migrate(_client(world), _table(world))
    assert report.legacy_counter_raised > 0
    again = migrate(_client(world), _table(world))
    assert again.writes == 0, again
    old_ids = _old_container_blocks(repo, 40)
    later_ids = {early.next_id("ticket") for _ in range(300)}
    fresh = TicketRepository(_client(world), _table(world), repo._payments)
    fresh._counter_shard["ticket"] = 3
    later_ids |= {fresh.next_id("ticket") for _ in range(100)}
    assert not old_ids & (early_ids | later_ids)
    assert len(early_ids | later_ids) == 650


def test_a_table_whose_old_code_never_gave_a_ticket_id_keeps_its_counters(world: DynamoWorld) -> None:
    repo = _repo(world)
    repo.next_id("ticket")
    before = _snapshot(world)
    report = migrate(_client(world), _table(world), only=("counters",))
    assert report.writes == 0 and _snapshot(world) == before


# the command -------------------------------------------------------------------------------------


def test_the_command_prints_counts_per_kind_and_a_dry_run_says_so(world: DynamoWorld, capsys: pytest.CaptureFixture[str]) -> None:
    _legacy_table(world)
    before = _snapshot(world)
    assert main(["--table", _table(world), "--dry-run"], client=_client(world)) == 0
    out = capsys.readouterr().out
    assert _snapshot(world) == before
    assert "dry run" in out
    assert "seat shards moved: 5" in out and "unsettled index entries re-keyed: 9" in out and "id counters floored: 16" in out
    assert main(["--table", _table(world), "--only", "seats"], client=_client(world)) == 0
    out = capsys.readouterr().out
    assert "seat shards moved: 5" in out and "unsettled index entries re-keyed: 0" in out and "id counters floored: 0" in out


def test_the_command_refuses_an_unknown_kind_and_writes_nothing(world: DynamoWorld, capsys: pytest.CaptureFixture[str]) -> None:
    _legacy_table(world)
    before = _snapshot(world)
    with pytest.raises(SystemExit) as refused:
        main(["--table", _table(world), "--only", "seats,tickets"], client=_client(world))
    assert refused.value.code == 2 and "--only" in capsys.readouterr().err
    assert _snapshot(world) == before


def test_a_stage_names_its_stack_and_region_in_samconfig() -> None:
    asked: list[str] = []

    class CloudFormation:
        def describe_stacks(self, StackName: str) -> dict[str, Any]:
            asked.append(StackName)
            outputs = [{"OutputKey": "ApiUrl", "OutputValue": "x"}, {"OutputKey": "TicketsTableName", "OutputValue": "tickets-prod-1"}]
            return {"Stacks": [{"Outputs": outputs}]}

    regions: list[str] = []

    def make(service: str, region: str) -> Any:
        assert service == "cloudformation"
        regions.append(region)
        return CloudFormation()

    assert tickets_table_for_stage("prod", make) == ("tickets-prod-1", "eu-west-1")
    assert asked == ["payments-api-prod"] and regions == ["eu-west-1"]
    with pytest.raises(SystemExit, match="staging"):
        tickets_table_for_stage("staging", make)
