"""A flash sale, simulated: one popular free event, buyers arriving at a steady rate, the real
purchase path (``TicketService.purchase`` with the real repository) in each of many simulated Lambda
containers, against a DynamoDB stand-in that behaves as DynamoDB documents under contention. No
machine can produce 2,000 purchases a second against real DynamoDB here, so time is virtual.

The stand-in (``ContendedDynamoDB``) keeps the data in moto (in process, with the local stack's
patches; requests go straight to moto's DynamoDB handler, ``tests.support.moto_direct.MotoDirect``,
since botocore's and moto's HTTP serialisation would be most of the run's time) and adds what moto
lacks:
- a transactional write holds each item it names for ``--service-ms``; a transaction or single write
  naming an item held by an overlapping transaction is refused with ``TransactionConflict``, as
  DynamoDB refuses it (it does not queue);
- writes are charged per partition key, as DynamoDB bounds them: each partition key (of the table,
  and of each global secondary index an item written has a key for) takes at most 1,000 write units
  a second, shared by every item under it; a transactional write costs 2 units per item (items
  under 1 KB), a single write 1, and each index entry a put writes 1; beyond the ceiling the write
  is refused with throttling (the whole transaction);
- reads are charged likewise: at most 3,000 read units a second per partition key, 1 per item read
  (strongly consistent, under 4 KB); a read beyond it is refused with throttling (a batch read
  returns those keys unprocessed, as DynamoDB does);
- reads take 3 ms and single writes 5 ms.

``--shared-event-partition`` charges an event's seat shards to the event's own partition key, as
the layout before issue 31 keyed them (``EVENT#<id>``, sort keys ``SEATS#n``), and their batch read
as the one query that layout read them with: the comparison shows what a partition key per shard
buys. (The code is today's: the event item and the shards are two reads where that layout's query
was one, a unit more per purchase on the event's key.)

Assumptions, besides those: the repository's own backoff (``write_with_retry``) sleeps in virtual
time; botocore's retries are not modelled (a refused write reaches the repository at once, so the
model errs towards more 503s); buyers are run one at a time in arrival order, each to its end, so a
later buyer meets the items an earlier one holds at the same virtual moment, and an earlier buyer's
retries hold items at later moments; a buyer takes a Lambda container free at its arrival or a new
one (no concurrency limit), each with its own block of ticket ids; API Gateway's throttling is not
modelled (with the template's defaults it would answer 429 above 1,000 purchases a second before any
function ran); the event is free (a paid one adds a Stripe call per purchase, outside this model);
a buyer takes one seat, or two one time in five.

    python -m benchmarks.flash_sale [--seats 50000] [--buyers 100000] [--rate 2000] [--shards 1,4,16,64]

Exits 1 on any oversell or 5xx. ``--check`` first runs a slow sale (no contention) through the
stand-in and through plain moto and compares every record.
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import re
import statistics
import sys
import types
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws

from local import moto_patches
from local.template import create_table_requests, create_tables, load_template
from tests.support.moto_direct import MotoDirect

TABLES = {"TicketsTable": "sale-tickets", "PaymentsTable": "sale-payments", "IdempotencyTable": "sale-idempotency"}
# The functions' settings in the simulation (read as a container reads its environment).
ENVIRONMENT = {
    "TICKETS_TABLE": TABLES["TicketsTable"],
    "PAYMENTS_TABLE": TABLES["PaymentsTable"],
    "IDEMPOTENCY_TABLE": TABLES["IdempotencyTable"],
}
WRITE_UNITS_PER_PARTITION_SECOND = 1000
READ_UNITS_PER_PARTITION_SECOND = 3000
OPENS_AT = 1.0  # the sale opens a second after the event was created
TRANSACTION_UNITS_PER_ITEM = 2
# A seat shard's item: its keys, event id, seats left and capacity (for the old layout's query).
SHARD_ITEM_BYTES = 100
SHARD_KEY = re.compile(r"^(EVENT#\d+)#SEATS#\d+$")

# A partition key: (table, index or "" for the table itself, the key's value).
Partition = tuple[str, str, str]


class VirtualClock:
    """The current buyer's time, in seconds since the sale opened."""

    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def _item_key(table: str, key: dict[str, Any]) -> tuple[str, str, str]:
    return table, str(key["pk"]["S"]), str(key["sk"]["S"])


def index_keys() -> dict[str, list[tuple[str, str]]]:
    """Per table of the sale, its global secondary indexes: (index name, partition key attribute)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for request, _ in create_table_requests(load_template(), TABLES):
        found[request["TableName"]] = [
            (index["IndexName"], next(part["AttributeName"] for part in index["KeySchema"] if part["KeyType"] == "HASH"))
            for index in request.get("GlobalSecondaryIndexes", [])
        ]
    return found


def _refused(code: str, reasons: list[str] | None = None) -> ClientError:
    response: dict[str, Any] = {"Error": {"Code": code, "Message": code}}
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": reason} for reason in reasons]
    return ClientError(response, "TransactWriteItems")  # type: ignore[arg-type]


@dataclass
class ContendedDynamoDB:
    """A DynamoDB client for the repository: moto's data and semantics, DynamoDB's contention."""

    inner: Any
    clock: VirtualClock
    service_seconds: float = 0.010
    read_seconds: float = 0.003
    write_seconds: float = 0.005
    shared_event_partition: bool = False
    held: dict[tuple[str, str, str], list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    write_units: Counter[tuple[Partition, int]] = field(default_factory=Counter)
    read_units: Counter[tuple[Partition, int]] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)
    indexes: dict[str, list[tuple[str, str]]] = field(default_factory=index_keys)

    def _partition(self, table: str, key: dict[str, Any]) -> Partition:
        value = str(key["pk"]["S"])
        if self.shared_event_partition:
            value = SHARD_KEY.sub(r"\1", value)
        return table, "", value

    def _write_charges(self, table: str, op_type: str, op: dict[str, Any], units: int) -> Counter[Partition]:
        """The write units an operation charges, by partition key: the item's own, and for a put,
        one per index entry it writes (an index whose key attribute the item has)."""
        item = op["Item"] if op_type == "Put" else op["Key"]
        charges = Counter({self._partition(table, item): units})
        if op_type == "Put":
            for index, attribute in self.indexes.get(table, []):
                if attribute in item:
                    charges[(table, index, str(next(iter(item[attribute].values()))))] += 1
        return charges

    def _throttled(self, ledger: Counter[tuple[Partition, int]], charges: Counter[Partition], at: float, ceiling: float) -> bool:
        """Whether any partition key would go over its ceiling this second; if none, charged."""
        second = int(at)
        if any(ledger[(partition, second)] + units > ceiling for partition, units in charges.items()):
            return True
        for partition, units in charges.items():
            ledger[(partition, second)] += units
        return False

    def _read(self, table: str, key: dict[str, Any], at: float, units: float = 1) -> bool:
        """Charges ``units`` read units to the key's partition; False when it is over its ceiling."""
        charges = Counter({self._partition(table, key): units})
        if self._throttled(self.read_units, charges, at, READ_UNITS_PER_PARTITION_SECOND):
            self.counts["read_throttled"] += 1
            return False
        return True

    def peak(self, ledger: Counter[tuple[Partition, int]]) -> tuple[int, str]:
        """The most units any one partition key took in any one second, and what that key is."""
        if not ledger:
            return 0, "-"
        ((table, index, value), _), units = max(ledger.items(), key=lambda entry: entry[1])
        kind = index or value.split("#")[0]
        if not index and SHARD_KEY.match(value):
            kind = "SEATS"
        return units, f"{kind}{'' if table == TABLES['TicketsTable'] else ' (' + table + ')'}"

    def _overlaps(self, key: tuple[str, str, str], start: float, end: float) -> bool:
        spans = self.held[key]
        while spans and spans[0][1] <= start - 1.0:  # spans long past cannot overlap any later request
            spans.pop(0)
        return any(begin < end and start < finish for begin, finish in spans)

    # reads --------------------------------------------------------------------------------------
    def query(self, **request: Any) -> Any:
        # The model's purchase path does not query; a query is charged one unit on its table.
        self.clock.sleep(self.read_seconds)
        return self.inner.query(**request)

    def get_item(self, **request: Any) -> Any:
        start = self.clock.now
        self.clock.sleep(self.read_seconds)
        # An eventually consistent read costs half a unit (DynamoDB's pricing of reads).
        if not self._read(request["TableName"], request["Key"], start, 1 if request.get("ConsistentRead") else 0.5):
            raise _refused("ProvisionedThroughputExceededException")
        return self.inner.get_item(**request)

    def batch_get_item(self, RequestItems: dict[str, Any]) -> Any:
        """Keys whose partition key is over its read ceiling come back unprocessed, as DynamoDB
        returns them; the rest are read, one unit each. With ``shared_event_partition``, the keys
        of one (folded) partition key are charged as the one query the old layout read them with:
        their sizes summed (``SHARD_ITEM_BYTES`` each), rounded up to 4 KB."""
        start = self.clock.now
        self.clock.sleep(self.read_seconds)
        groups: dict[tuple[str, Partition], list[dict[str, Any]]] = defaultdict(list)
        for table, request in RequestItems.items():
            for key in request["Keys"]:
                groups[(table, self._partition(table, key))].append(key)
        processed: dict[str, Any] = {}
        unprocessed: dict[str, Any] = {}
        for (table, _), keys in groups.items():
            units = -(-len(keys) * SHARD_ITEM_BYTES // 4096) if self.shared_event_partition else len(keys)
            target = processed if self._read(table, keys[0], start, units) else unprocessed
            target.setdefault(table, {**RequestItems[table], "Keys": []})["Keys"].extend(keys)
        if not processed:
            raise _refused("ProvisionedThroughputExceededException")
        result = dict(self.inner.batch_get_item(RequestItems=processed))
        result["UnprocessedKeys"] = unprocessed
        return result

    # writes -------------------------------------------------------------------------------------
    def put_item(self, **request: Any) -> Any:
        start = self.clock.now
        self.clock.sleep(self.write_seconds)
        if self._throttled(
            self.write_units, self._write_charges(request["TableName"], "Put", request, 1), start, WRITE_UNITS_PER_PARTITION_SECOND
        ):
            self.counts["throttled"] += 1
            raise _refused("ThrottlingException")
        return self.inner.put_item(**request)

    def batch_write_item(self, RequestItems: dict[str, Any]) -> Any:
        """Each put charged as a single put (1 unit, and its index entries); those over their
        partition key's ceiling come back unprocessed, as DynamoDB returns them."""
        start = self.clock.now
        self.clock.sleep(self.write_seconds)
        processed: dict[str, Any] = {}
        unprocessed: dict[str, Any] = {}
        for table, requests in RequestItems.items():
            for request in requests:
                charges = self._write_charges(table, "Put", request["PutRequest"], 1)
                throttled = self._throttled(self.write_units, charges, start, WRITE_UNITS_PER_PARTITION_SECOND)
                self.counts["throttled"] += throttled
                (unprocessed if throttled else processed).setdefault(table, []).append(request)
        if processed:
            self.inner.batch_write_item(RequestItems=processed)
        return {"UnprocessedItems": unprocessed}

    def update_item(self, **request: Any) -> Any:
        key = _item_key(request["TableName"], request["Key"])
        start = self.clock.now
        self.clock.sleep(self.write_seconds)
        if self._overlaps(key, start, self.clock.now):
            self.counts["conflicts"] += 1
            raise _refused("TransactionConflictException")
        if self._throttled(
            self.write_units, self._write_charges(request["TableName"], "Update", request, 1), start, WRITE_UNITS_PER_PARTITION_SECOND
        ):
            self.counts["throttled"] += 1
            raise _refused("ThrottlingException")
        return self.inner.update_item(**request)

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> Any:
        self.counts["transactions"] += 1
        keys = []
        charges: Counter[Partition] = Counter()
        for entry in TransactItems:
            op_type, op = next(iter(entry.items()))
            keys.append(_item_key(op["TableName"], op["Item"] if op_type == "Put" else op["Key"]))
            charges += self._write_charges(op["TableName"], op_type, op, TRANSACTION_UNITS_PER_ITEM)
        start = self.clock.now
        self.clock.sleep(self.service_seconds)
        end = self.clock.now
        conflicts = ["TransactionConflict" if self._overlaps(key, start, end) else "None" for key in keys]
        if "TransactionConflict" in conflicts:
            self.counts["conflicts"] += 1
            raise _refused("TransactionCanceledException", conflicts)
        if self._throttled(self.write_units, charges, start, WRITE_UNITS_PER_PARTITION_SECOND):
            self.counts["throttled"] += 1
            raise _refused("TransactionCanceledException", ["ThrottlingError"] * len(keys))
        for key in keys:
            self.held[key].append((start, end))
        return self.inner.transact_write_items(TransactItems=TransactItems)


@dataclass
class Outcome:
    shards: int
    seats: int
    buyers: int
    sold: int = 0
    oversold: int = 0
    answers: Counter[int] = field(default_factory=Counter)
    busy_without_retry_after: int = 0
    conflicts: int = 0
    throttled: int = 0
    retries: int = 0
    read_throttled: int = 0
    peak_write_units: tuple[int, str] = (0, "-")
    peak_read_units: tuple[int, str] = (0, "-")
    containers: int = 0
    seconds_to_ticket: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)


def run_sale(
    seats: int,
    buyers: int,
    rate: float,
    shards: int,
    seed: int = 7,
    contended: bool = True,
    service_seconds: float = 0.010,
    shared_event_partition: bool = False,
) -> tuple[Outcome, Any]:
    """The sale; returns its outcome and the moto client holding the final records."""
    from payments import retries
    from payments.auth import Caller
    from payments.domain.events import EventService
    from payments.domain.tickets import TicketService
    from payments.dynamodb import is_unavailable
    from payments.errors import ApiError
    from payments.models.common import validate
    from payments.models.tickets import CreateEventRequest, PurchaseRequest
    from payments.repositories import tickets as tickets_repository
    from payments.repositories.tickets import TicketRepository
    from payments.settings import Settings

    rng = random.Random(seed)  # noqa: S311 - a reproducible simulation, not cryptography
    clock = VirtualClock()
    inner = boto3.client("dynamodb", region_name="eu-west-1")
    create_tables(inner, TABLES)
    client: Any = (
        ContendedDynamoDB(MotoDirect(), clock, service_seconds=service_seconds, shared_event_partition=shared_event_partition)
        if contended
        else inner
    )
    settings = Settings.model_validate(ENVIRONMENT)
    # The real backoff, in virtual time.
    stock_time, stock_random, stock_secrets = retries.time, retries.random, tickets_repository.secrets  # type: ignore[attr-defined]
    vars(retries).update(time=types.SimpleNamespace(monotonic=clock.monotonic, sleep=clock.sleep), random=rng)
    # Where each purchase starts looking among the shards: seeded, so that runs can be compared.
    starts = random.Random(seed + 1)  # noqa: S311 - a reproducible simulation
    vars(tickets_repository).update(secrets=types.SimpleNamespace(randbelow=starts.randrange))
    try:

        def container() -> TicketService:
            repository = TicketRepository(client, TABLES["TicketsTable"], TABLES["PaymentsTable"])
            return TicketService(repository, lambda: None, settings, clock=lambda: 1_800_000_000 + clock.now)  # type: ignore[arg-type,return-value]

        staff = Caller(user_id="staff", groups=frozenset({settings.staff_group}))
        events = EventService(TicketRepository(client, TABLES["TicketsTable"], TABLES["PaymentsTable"]))
        event = events.create(
            staff,
            validate(CreateEventRequest, {"name": "On-sale", "price": 0, "currency": "usd", "capacity": seats, "seat_shards": shards}),
        )
        outcome = Outcome(shards, seats, buyers)
        free: list[tuple[float, int]] = []  # (free at, container index)
        services: list[TicketService] = []
        transactions_before = client.counts["transactions"] if contended else 0
        for index in range(buyers):
            arrival = OPENS_AT + index / rate
            clock.now = arrival
            if free and free[0][0] <= arrival:
                _, which = heapq.heappop(free)
            else:
                which = len(services)
                services.append(container())
            quantity = 1 + (rng.random() < 0.2)
            try:
                ticket = services[which].purchase(
                    Caller(user_id=f"buyer-{index}", groups=frozenset()),
                    validate(PurchaseRequest, {"event_id": event.event_id, "quantity": quantity}),
                )
                outcome.answers[200] += 1
                outcome.seconds_to_ticket.append(clock.now - arrival)
                outcome.sold += getattr(ticket, "quantity", quantity)
            except ApiError as error:
                outcome.answers[error.status_code] += 1
                if error.status_code == 503 and "Retry-After" not in (error.headers or {}):
                    outcome.busy_without_retry_after += 1
            except Exception as error:
                # What payments.http does with it: 503 with Retry-After when DynamoDB is unavailable, else 500.
                if is_unavailable(error):
                    outcome.answers[503] += 1
                else:
                    outcome.answers[500] += 1
                    outcome.failures[f"{type(error).__name__}: {error}"[:200]] += 1
            heapq.heappush(free, (clock.now, which))
        outcome.containers = len(services)
        if contended:
            outcome.conflicts = client.counts["conflicts"]
            outcome.throttled = client.counts["throttled"]
            outcome.retries = client.counts["transactions"] - transactions_before - outcome.answers[200]
            outcome.read_throttled = client.counts["read_throttled"]
            outcome.peak_write_units = client.peak(client.write_units)
            outcome.peak_read_units = client.peak(client.read_units)
        outcome.oversold = oversold(inner, event.event_id, seats)
        return outcome, inner
    finally:
        vars(retries).update(time=stock_time, random=stock_random)
        vars(tickets_repository).update(secrets=stock_secrets)


def oversold(client: Any, event_id: int, capacity: int) -> int:
    """Seats sold beyond any shard's capacity, plus shards gone below zero, plus seats unaccounted
    for (held + left != capacity, shard by shard): 0 when the invariant holds."""
    from payments.dynamodb import all_items, from_item

    held: Counter[int] = Counter()
    shards: dict[int, dict[str, Any]] = {}
    for raw in all_items(client.scan, TableName=TABLES["TicketsTable"]):
        item = from_item(raw)
        if "shard_capacity" in item and int(item["event_id"]) == event_id:  # the event's item or a shard's
            shards[0 if item["sk"] == "EVENT" else int(item["sk"].removeprefix("SEATS#"))] = item
        elif item["sk"] == "TICKET" and int(item["event_id"]) == event_id and item["status"] in ("reserved", "processing", "paid"):
            for shard, count in (item.get("seat_parts") or {"0": item["quantity"]}).items():
                held[int(shard)] += int(count)
    assert sum(int(item["shard_capacity"]) for item in shards.values()) == capacity
    wrong = 0
    for shard, item in shards.items():
        left, own = int(item["available"]), int(item["shard_capacity"])
        wrong += max(0, held[shard] - own) + max(0, -left) + abs(held[shard] + left - own)
    return wrong


def report(outcomes: list[Outcome]) -> None:
    print(
        f"{'shards':>6} {'sold':>7} {'oversold':>8} {'5xx':>5} {'503':>6} {'400':>7} {'conflicts':>9} {'throttled':>9} "
        f"{'retries':>8} {'containers':>10} {'p50 s':>7} {'p99 s':>7}  {'peak WCU/s on one key':<28} peak RCU/s on one key"
    )
    for o in outcomes:
        times = sorted(o.seconds_to_ticket) or [float("nan")]
        p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
        five = sum(count for status, count in o.answers.items() if status >= 500 and status != 503)
        writes = f"{o.peak_write_units[0]} ({o.peak_write_units[1]})"
        reads = f"{o.peak_read_units[0]} ({o.peak_read_units[1]})"
        print(
            f"{o.shards:>6} {o.sold:>7} {o.oversold:>8} {five:>5} {o.answers[503]:>6} {o.answers[400]:>7} {o.conflicts:>9} "
            f"{o.throttled:>9} {o.retries:>8} {o.containers:>10} {statistics.median(times):>7.3f} {p99:>7.3f}  {writes:<28} {reads}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seats", type=int, default=50_000)
    parser.add_argument("--buyers", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=2000.0, help="buyers arriving per second")
    parser.add_argument("--shards", default="1,4,16,64")
    parser.add_argument("--service-ms", type=float, default=10.0, help="how long a transaction holds its items")
    parser.add_argument("--check", action="store_true", help="first compare the stand-in with plain moto on a slow sale")
    parser.add_argument(
        "--shared-event-partition",
        action="store_true",
        help="charge the seat shards to the event's partition key (the layout before issue 31), for comparison",
    )
    args = parser.parse_args()
    # A log line per purchase (the audit trail) would be most of the run's time.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    moto_patches.install()
    if args.check:
        differences = compare_with_moto()
        print(f"stand-in against moto, slow sale without contention: {differences} differing records")
        if differences:
            return 1
    outcomes = []
    for shards in (int(value) for value in args.shards.split(",")):
        with mock_aws():
            outcome, _ = run_sale(
                args.seats,
                args.buyers,
                args.rate,
                shards,
                service_seconds=args.service_ms / 1000,
                shared_event_partition=args.shared_event_partition,
            )
        outcomes.append(outcome)
    print(
        f"Flash sale, simulated: {args.seats} seats, {args.buyers} buyers (1 or 2 seats each) arriving at {args.rate:.0f}/s; "
        f"a transaction holds its items {args.service_ms:.0f} ms, reads 3 ms, single writes 5 ms; per partition key 1,000 write "
        f"and 3,000 read units/s{' (seat shards charged to the event partition key, the old layout)' if args.shared_event_partition else ''}"
    )
    report(outcomes)
    failed = any(o.oversold or any(status >= 500 and status != 503 for status in o.answers) or o.busy_without_retry_after for o in outcomes)
    return 1 if failed else 0


def compare_with_moto(seats: int = 300, buyers: int = 400, shards: int = 4) -> int:
    """The same slow sale (one buyer a second: nothing overlaps) through the stand-in and through
    plain moto: the number of records that differ (ticket codes, random by design, with their QR
    codes, and the event's creation time, the real clock's, left out)."""
    records = []
    for contended in (True, False):
        with mock_aws():
            _, client = run_sale(seats, buyers, rate=1.0, shards=shards, contended=contended)
            found = {}
            for table in (TABLES["TicketsTable"], TABLES["PaymentsTable"]):
                from payments.dynamodb import all_items

                for item in all_items(client.scan, TableName=table):
                    item.pop("ticket_code", None)
                    item.pop("qr_png", None)  # the QR of the code
                    if item["sk"]["S"] == "EVENT":
                        item.pop("created_at", None)
                    found[(table, item["pk"]["S"], item["sk"]["S"])] = item
            records.append(found)
    stand_in, moto = records
    return sum(1 for key in stand_in.keys() | moto.keys() if stand_in.get(key) != moto.get(key))


if __name__ == "__main__":
    sys.exit(main())
