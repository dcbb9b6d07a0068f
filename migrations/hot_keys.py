"""Moves a tickets table written before the hot-key change (issue 31) to the keys the code now reads.

    python -m migrations.hot_keys --stage dev|prod [--dry-run] [--only counters,seats,index]
    python -m migrations.hot_keys --table NAME [--region eu-west-1] [--endpoint-url URL] ...
    (make migrate STAGE=dev [DRY_RUN=1] [ONLY=counters], or TABLE=name)

Three things changed in ``payments.repositories.tickets``, and each has its migration here:

seats
    An event's seat shards 1.. moved from pk ``EVENT#<id>``, sk ``SEATS#<n>`` to partition keys of
    their own, ``EVENT#<id>#SEATS#<n>``. Each legacy shard item moves in one transaction: the item
    put at its new key if nothing is there, and the legacy item deleted on condition that every one
    of its attributes still holds the value read. A seat sold or given back by the old code between
    the scan and the move fails the delete, the item is read again and moved as it is then; so no
    seat is lost or doubled, and a run killed half-way leaves each shard at one key or the other.
    An item at both keys is a conflict: reported, neither touched, and the command exits 1.
index
    The unsettled index is keyed ``<status>#<ticket id mod 16>`` instead of the bare status. Each
    ticket with a bare entry is re-keyed in one update conditioned on the entry and the status as
    read (a ticket that moved on meanwhile was re-keyed or settled by the code itself).
counters
    Ticket ids come from 16 counters (``COUNTER#ticket#<n>``, counter n giving rounds of blocks:
    block ``round * 16 + n``) instead of one (``COUNTER#ticket``, ``ADD 100`` a block).

Why the counters are floored with a margin: during a rollout (``sam deploy`` updates the functions
one by one, and an invocation that started on the old code finishes on it), containers on the old
code keep ADDing blocks to ``COUNTER#ticket``, unconditionally. The old code has no condition that
the legacy counter could be made to refuse: the only way to make its ADD fail is to give the
attribute another type, which turns every old container's next block into a 500, and would blind
the new code's own floor (which reads the legacy value as a number). Instead the two id spaces are
kept apart: every new counter starts at the first round above the legacy counter plus ``ID_MARGIN``
(1,000,000 ids: 10,000 blocks; the busiest on-sale modelled, 2,000 buyers a second, takes 500 s of
the old code alone to spend it, and a rollout takes minutes). Run before the deploy, the old code
can only climb into the margin, never into the new counters' space. Run while the new code already
serves, a counter it created itself (floored at the legacy value, no margin) may have given ids
just above the legacy counter: the migration first raises the legacy counter above every id such a
counter gave (recorded on the counter as ``given_below``), then floors the counters; so the old
code's next blocks skip them. Ids the two codes gave before that run cannot be taken back; the
ticket's put (``attribute_not_exists(pk)``) refuses a second ticket on one id, so such a collision
fails a purchase, never merges two. Hence: ``--only counters`` before the deploy.

Every write is conditional and computed from what is read, so a second run on a quiet table writes
nothing, and a run killed at any point is finished by running it again.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import migrations  # noqa: F401 - puts the layer's package on the path when run as python -m
from payments.domain.lifecycle import UNSETTLED
from payments.dynamodb import cancellation_reasons, is_condition_failure, write_with_retry
from payments.repositories.tickets import COUNTER_SHARDS, ID_BLOCK, _shard_key, _ticket_key, _unsettled_key

KINDS = ("counters", "seats", "index")
# Ids kept free between the legacy counter and the new counters' first round (see the docstring).
ID_MARGIN = 1_000_000
# A legacy shard whose seats change under every attempt (an on-sale in full swing on the old code):
# the run stops and says so rather than spin; running it again goes on.
MOVE_ATTEMPTS = 10
# Rounds of raising the legacy counter and flooring the new ones until neither moves (a new counter
# advancing between the read and the write is read again).
COUNTER_ATTEMPTS = 10
SAMCONFIG = Path(__file__).resolve().parent.parent / "samconfig.toml"
# The legacy shard items: a sort key SEATS#<n> under the event's own partition key. The new ones
# carry the marker in their partition key.
_OWN_KEY_MARKER = "#SEATS#"


@dataclass
class Report:
    """What a run did (or, in a dry run, would do), per kind."""

    dry_run: bool
    scanned: int = 0
    legacy_found: int = 0
    seat_shards_moved: int = 0
    seats_moved: int = 0
    index_entries_rekeyed: int = 0
    index_entries_moved_on: int = 0
    counters_floored: int = 0
    floor_round: int | None = None
    legacy_counter_raised: int = 0
    conflicts: list[str] = field(default_factory=list)
    writes: int = 0
    would_write: int = 0
    seconds: float = 0.0

    def lines(self, table: str) -> list[str]:
        head = f"table {table}: {self.scanned} items scanned, {self.legacy_found} in a legacy shape, in {self.seconds:.1f} s"
        lines = [head + (" (dry run: nothing written)" if self.dry_run else "")]
        lines.append(f"seat shards moved: {self.seat_shards_moved} ({self.seats_moved} seats left on them)")
        lines.append(f"unsettled index entries re-keyed: {self.index_entries_rekeyed} (moved on meanwhile: {self.index_entries_moved_on})")
        floor = "" if self.floor_round is None else f" (at round {self.floor_round}: ids from {self.floor_round * ID_BLOCK * 16 + 1})"
        lines.append(f"id counters floored: {self.counters_floored}{floor}")
        lines.append(f"legacy counter raised by: {self.legacy_counter_raised} ids")
        lines.append(f"writes: {self.writes}" + (f" (would write: {self.would_write})" if self.dry_run else ""))
        lines += [f"conflict: {conflict}" for conflict in self.conflicts] or ["conflicts: none"]
        return lines


class HotKeyMigration:
    def __init__(self, client: Any, table: str, *, dry_run: bool = False, margin: int = ID_MARGIN, kinds: Sequence[str] = KINDS) -> None:
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown kinds {sorted(unknown)}: choose from {', '.join(KINDS)}")
        self._client = client
        self._table = table
        self._margin = margin
        self._kinds = set(kinds)
        self.report = Report(dry_run=dry_run)

    def run(self) -> Report:
        started = time.monotonic()
        # Counters first: they are what the rollout window threatens (see the module docstring).
        if "counters" in self._kinds:
            for kind, shards in COUNTER_SHARDS.items():
                self._secure_counters(kind, shards)
        if self._kinds & {"seats", "index"}:
            for item in self._legacy_items():
                self.report.legacy_found += 1
                if item["sk"]["S"].startswith("SEATS#"):
                    self._move_shard(item)
                else:
                    self._rekey(item)
        self.report.seconds = time.monotonic() - started
        return self.report

    # writes ------------------------------------------------------------------------------------
    def _write(self, call: Callable[[], Any]) -> bool:
        """``call`` unless this is a dry run (then counted only); True when it wrote."""
        if self.report.dry_run:
            self.report.would_write += 1
            return False
        write_with_retry(call)
        self.report.writes += 1
        self.report.would_write += 1
        return True

    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        return item

    # the scan ----------------------------------------------------------------------------------
    def _legacy_items(self) -> Iterator[dict[str, Any]]:
        """Every item in a shape only the code before the change wrote, a page of the scan at a time
        (items this run moves or re-keys no longer match the filter if the scan meets them again)."""
        parts: list[str] = []
        values: dict[str, Any] = {}
        if "seats" in self._kinds:
            parts.append("(begins_with(sk, :seats) AND begins_with(pk, :event) AND NOT contains(pk, :own))")
            values |= {":seats": {"S": "SEATS#"}, ":event": {"S": "EVENT#"}, ":own": {"S": _OWN_KEY_MARKER}}
        if "index" in self._kinds:
            statuses = sorted(str(status) for status in UNSETTLED)
            names = [f":bare{number}" for number in range(len(statuses))]
            parts.append(f"(begins_with(pk, :ticket) AND unsettled_status IN ({', '.join(names)}))")
            values |= {":ticket": {"S": "TICKET#"}} | {name: {"S": status} for name, status in zip(names, statuses, strict=True)}
        # Consistent: an item the old code wrote a moment ago is seen by this run, not only the next.
        request: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": " OR ".join(parts),
            "ExpressionAttributeValues": values,
            "ConsistentRead": True,
        }
        while True:
            page = self._client.scan(**request)
            self.report.scanned += int(page.get("ScannedCount", 0))
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # seats -------------------------------------------------------------------------------------
    def _move_shard(self, item: dict[str, Any]) -> None:
        legacy_key = {"pk": item["pk"], "sk": item["sk"]}
        event_id = int(item["pk"]["S"].removeprefix("EVENT#"))
        shard = int(item["sk"]["S"].removeprefix("SEATS#"))
        new_key = _shard_key(event_id, shard)
        where = f"{item['pk']['S']} {item['sk']['S']}"
        current: dict[str, Any] | None = item
        for _ in range(MOVE_ATTEMPTS):
            if current is None:
                return  # moved meanwhile (another run): nothing left here
            if self._get(new_key) is not None:
                if self._get(legacy_key) is None:
                    return  # another run moved it after this one's scan: at exactly one key, no conflict
                self.report.conflicts.append(f"{where}: an item is at its new key {new_key['pk']['S']} too; neither touched")
                return
            read = current
            try:
                self._write(functools.partial(self._client.transact_write_items, TransactItems=self._move(read, legacy_key, new_key)))
            except Exception as error:
                if not is_condition_failure(error) or "ConditionalCheckFailed" not in cancellation_reasons(error):
                    raise
                current = self._get(legacy_key)  # sold or given back meanwhile: move it as it is now
                continue
            self.report.seat_shards_moved += 1
            self.report.seats_moved += int(read.get("available", {}).get("N", "0"))
            return
        raise RuntimeError(f"{where}: its seats changed under {MOVE_ATTEMPTS} moves; run again")

    def _move(self, item: dict[str, Any], legacy_key: dict[str, Any], new_key: dict[str, Any]) -> list[Any]:
        """Put at the new key if absent, delete the legacy item if it is exactly as read: one transaction."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        exact: list[str] = []
        for number, (name, value) in enumerate(sorted((name, value) for name, value in item.items() if name not in legacy_key)):
            names[f"#a{number}"], values[f":a{number}"] = name, value
            exact.append(f"#a{number} = :a{number}")
        delete: dict[str, Any] = {"TableName": self._table, "Key": legacy_key, "ConditionExpression": "attribute_exists(pk)"}
        if exact:
            delete |= {
                "ConditionExpression": " AND ".join(["attribute_exists(pk)", *exact]),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        put = {"TableName": self._table, "Item": {**item, **new_key}, "ConditionExpression": "attribute_not_exists(pk)"}
        return [{"Put": put}, {"Delete": delete}]

    # the unsettled index -----------------------------------------------------------------------
    def _rekey(self, item: dict[str, Any]) -> None:
        bare = item["unsettled_status"]["S"]
        ticket_id = int(item["pk"]["S"].removeprefix("TICKET#"))
        try:
            self._write(
                lambda: self._client.update_item(
                    TableName=self._table,
                    Key=_ticket_key(ticket_id),
                    UpdateExpression="SET unsettled_status = :keyed",
                    ConditionExpression="unsettled_status = :bare AND #status = :bare",
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={":bare": {"S": bare}, ":keyed": {"S": _unsettled_key(bare, ticket_id)}},
                )
            )
        except Exception as error:
            if not is_condition_failure(error):
                raise
            self.report.index_entries_moved_on += 1  # the code itself re-keyed or settled it meanwhile
            return
        self.report.index_entries_rekeyed += 1

    # counters ----------------------------------------------------------------------------------
    def _secure_counters(self, kind: str, shards: int) -> None:
        """The legacy counter above every id a new counter gave below the migration's floor, then
        every new counter at the first round above the legacy counter plus the margin; again until
        neither moves (a dry run: once)."""
        legacy_key = {"pk": {"S": f"COUNTER#{kind}"}, "sk": {"S": "COUNTER"}}
        if self._get(legacy_key) is None:
            return  # the old code never gave an id of this kind: nothing to keep apart
        per_round = ID_BLOCK * shards
        for _ in range(COUNTER_ATTEMPTS):
            keys = [{"pk": {"S": f"COUNTER#{kind}#{shard}"}, "sk": {"S": "COUNTER"}} for shard in range(shards)]
            given = max(_given_below(self._get(key)) for key in keys) * per_round
            legacy = self._raise_legacy(legacy_key, given)
            floor = -(-(legacy + self._margin) // per_round)
            self.report.floor_round = floor
            floored = sum(self._floor_counter(key, floor) for key in keys)
            if self.report.dry_run or floored == 0:
                return
        raise RuntimeError(f"the {kind} counters kept moving under {COUNTER_ATTEMPTS} rounds; run again")

    def _raise_legacy(self, key: dict[str, Any], target: int) -> int:
        """The legacy counter's value once it is at least ``target``: set only while below it, so
        that an old container's ADD meanwhile is never lost (it lands before or after, atomically)."""
        item = self._get(key)
        value = int(item["value"]["N"]) if item is not None and "value" in item else 0
        if value >= target:
            return value
        try:
            wrote = self._write(
                lambda: self._client.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression="SET #value = :target",
                    ConditionExpression="#value < :target",
                    ExpressionAttributeNames={"#value": "value"},
                    ExpressionAttributeValues={":target": {"N": str(target)}},
                )
            )
        except Exception as error:
            if not is_condition_failure(error):
                raise
            wrote = False  # old containers passed it meanwhile
        if wrote or self.report.dry_run:
            self.report.legacy_counter_raised += target - value
            return target
        item = self._get(key)
        return int(item["value"]["N"]) if item is not None else target

    def _floor_counter(self, key: dict[str, Any], floor: int) -> int:
        """The counter at ``floor`` rounds if it is below (1 when written), conditioned on its value
        as read; it records what it had given below the floor (``given_below``), kept from the first
        run that floored it: the ids a counter the new code created itself gave before any run."""
        item = self._get(key)
        value = int(item["value"]["N"]) if item is not None else None
        if value is not None and value >= floor:
            return 0
        names, values = {"#value": "value"}, {":floor": {"N": str(floor)}, ":given": {"N": str(_given_below(item))}}
        condition = "attribute_not_exists(#value)"
        if value is not None:
            condition, values = "#value = :read", values | {":read": {"N": str(value)}}
        try:
            self._write(
                lambda: self._client.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression="SET #value = :floor, floor_round = :floor, given_below = :given",
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
            )
        except Exception as error:
            if not is_condition_failure(error):
                raise
            return 1  # the new code advanced it meanwhile: read again in the next round
        self.report.counters_floored += 1
        return 1


def _given_below(item: dict[str, Any] | None) -> int:
    """Rounds a counter gave that may lie below the migration's floor: none for a counter the
    migration created; what a counter the new code created itself had given when first floored."""
    if item is None:
        return 0
    if "given_below" in item:
        return int(item["given_below"]["N"])
    return int(item["value"]["N"])


def migrate(client: Any, table: str, *, dry_run: bool = False, margin: int = ID_MARGIN, only: Sequence[str] = KINDS) -> Report:
    """Migrates ``table`` (or, with ``dry_run``, counts what it would write); see the module docstring."""
    return HotKeyMigration(client, table, dry_run=dry_run, margin=margin, kinds=only).run()


def tickets_table_for_stage(stage: str, make_client: Callable[[str, str], Any]) -> tuple[str, str]:
    """The stage's tickets table and region: the stack and region samconfig.toml deploys it to, the
    table's name from the stack's output ``TicketsTableName`` (CloudFormation names the table)."""
    config = tomllib.loads(SAMCONFIG.read_text())
    deploy = config.get(stage, {}).get("deploy", {}).get("parameters")
    if deploy is None:
        raise SystemExit(f"no stage {stage!r} in samconfig.toml (stages: {', '.join(sorted(n for n in config if n != 'version'))})")
    region = deploy["region"]
    stacks = make_client("cloudformation", region).describe_stacks(StackName=deploy["stack_name"])["Stacks"]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}
    return outputs["TicketsTableName"], region


def _botocore_client(service: str, region: str, endpoint_url: str | None = None) -> Any:
    import botocore.session

    return botocore.session.get_session().create_client(service, region_name=region, endpoint_url=endpoint_url)


def main(argv: Sequence[str] | None = None, client: Any = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m migrations.hot_keys", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stage", help="a stage of samconfig.toml (dev, prod): its stack's tickets table")
    where.add_argument("--table", help="the tickets table's name")
    parser.add_argument("--region", default=None, help="with --table (default: AWS_REGION, else eu-west-1)")
    parser.add_argument("--endpoint-url", default=None, help="another DynamoDB (DynamoDB Local)")
    parser.add_argument("--dry-run", action="store_true", help="count what would be written, write nothing")
    parser.add_argument("--only", default=",".join(KINDS), help=f"a comma-separated subset of {','.join(KINDS)}")
    parser.add_argument("--margin", type=int, default=ID_MARGIN, help="ids kept free above the legacy counter")
    arguments = parser.parse_args(argv)
    kinds = [kind.strip() for kind in arguments.only.split(",") if kind.strip()]
    if set(kinds) - set(KINDS):
        parser.error(f"--only: choose from {','.join(KINDS)}")
    if arguments.stage:
        table, region = tickets_table_for_stage(arguments.stage, _botocore_client)
    else:
        table, region = arguments.table, arguments.region or os.environ.get("AWS_REGION", "eu-west-1")
    if client is None:
        client = _botocore_client("dynamodb", region, arguments.endpoint_url)
    report = migrate(client, table, dry_run=arguments.dry_run, margin=arguments.margin, only=kinds)
    print("\n".join(report.lines(table)))
    return 1 if report.conflicts else 0


if __name__ == "__main__":
    sys.exit(main())
