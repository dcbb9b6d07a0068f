"""The money model's fast world: the real handlers, repositories and domain, with their two slow
neighbours called in process instead of over a socket.

- DynamoDB: moto's DynamoDB handler called directly (``MotoDirect``), without botocore's and moto's
  HTTP serialisation.
- Stripe and PayPal: the local fakes' WSGI applications called directly from ``requests`` (the
  Stripe SDK's default HTTP client and the PayPal client both use it) through a transport adapter
  mounted for the fakes' addresses; every other address goes out as usual.

The money model's HTTP slice runs the same rules over boto3 through moto and the fakes over
loopback: the two worlds cross-check each other.

The stores come in two worlds (``ModelStores``): the in-memory twins of the store ports
(``MemoryModelStores``, the main run: ``tests/support/memory_stores.py``, held to the repositories by
``tests/contract``) or the repositories over moto (``MotoModelStores``). Each gives the model the same
observations (tickets, seats by shard, unpaid counters, the payments table's records), the same
interleaving of two requests at their store calls and the same armed DynamoDB faults."""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from werkzeug.test import EnvironBuilder, run_wsgi_app

from tests.support.dynamo import SerialisedClient
from tests.support.faults import FaultInjectingClient
from tests.support.interleave import Interleaving
from tests.support.memory_stores import MemoryStores

WsgiApp = Callable[..., Iterable[bytes]]


class WsgiAdapter(BaseAdapter):
    """A ``requests`` transport that hands the request to a WSGI application in this process."""

    def __init__(self, app: WsgiApp) -> None:
        super().__init__()
        self._app = app

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        url = urlsplit(str(request.url))
        body = request.body.encode() if isinstance(request.body, str) else request.body
        environ = EnvironBuilder(
            method=str(request.method),
            path=url.path,
            query_string=url.query,
            headers=list(request.headers.items()),
            data=body or b"",
            base_url=f"{url.scheme}://{url.netloc}",
        ).get_environ()
        app_iter, status, headers = run_wsgi_app(self._app, environ)
        try:
            content = b"".join(app_iter)
        finally:
            close = getattr(app_iter, "close", None)
            if close is not None:
                close()
        response = requests.Response()
        response.status_code = int(status.split(" ", 1)[0])
        response.reason = status.split(" ", 1)[1] if " " in status else ""
        response.headers = CaseInsensitiveDict(dict(headers))
        response._content = content
        response.encoding = "utf-8"
        response.url = str(request.url)
        response.request = request
        return response

    def close(self) -> None:
        pass


@contextmanager
def providers_in_process(apps: dict[str, WsgiApp]) -> Iterator[None]:
    """Requests to each base address (``http://127.0.0.1:port``) go to its WSGI app in process."""
    adapters = {base.rstrip("/") + "/": WsgiAdapter(app) for base, app in apps.items()}
    stock = requests.Session.get_adapter

    def get_adapter(self: requests.Session, url: str) -> BaseAdapter:
        for prefix, adapter in adapters.items():
            if url.startswith(prefix):
                return adapter
        return stock(self, url)

    requests.Session.get_adapter = get_adapter  # type: ignore[method-assign]
    try:
        yield
    finally:
        requests.Session.get_adapter = stock  # type: ignore[method-assign]


# The store worlds --------------------------------------------------------------------------------
Shards = dict[tuple[int, int], tuple[int, int]]  # (event, shard) -> (seats left, the shard's capacity)


class ModelStores(Protocol):
    """One sequence's stores, as the money model drives and reads them."""

    name: str
    env: dict[str, str]  # the table names the functions' settings read
    interleaving: Interleaving
    faults: FaultInjectingClient  # what ``payments.dynamodb.get_client`` answers; armed faults reach every store

    def tickets(self) -> list[dict[str, Any]]: ...

    def records(self) -> list[dict[str, Any]]: ...

    def shards(self) -> Shards: ...

    def unpaid_counters(self) -> dict[tuple[int, str], int]: ...

    def close(self) -> None: ...


_suffixes = itertools.count(1)
ACCOUNT, REGION = "123456789012", "eu-west-1"  # where both MotoDirect and the suite's mock_aws keep their tables


@functools.cache
def _template() -> dict[str, Any]:
    """template.yaml, parsed once (parsing it is most of a table's creation)."""
    from local.template import load_template

    return load_template()


def _table_names() -> dict[str, str]:
    suffix = next(_suffixes)
    return {"TicketsTable": f"m-tickets-{suffix}", "PaymentsTable": f"m-payments-{suffix}", "IdempotencyTable": f"m-idem-{suffix}"}


def _moto_items(table: str) -> list[dict[str, Any]]:
    """Every item of a table, read from moto's own store (MotoDirect and mock_aws both keep their
    data there): the model's reads after every step cost no request. Unsorted (moto's all_items
    sorts every item by its typed keys, most of a read's cost)."""
    from moto.dynamodb.models import dynamodb_backends

    from payments.dynamodb import from_item

    stored = dynamodb_backends[ACCOUNT][REGION].tables[table]
    partitions: list[Any] = list(stored.items.values())
    items = [item for partition in partitions for item in partition.values()] if stored.range_key_attr else partitions
    return [from_item(item.to_json()["Attributes"]) for item in items]


class MotoModelStores:
    """The repositories over moto (``client``: MotoDirect, or boto3 under mock_aws), on tables of
    their own; the model's interleaving and faults wrap the DynamoDB client."""

    name = "moto"

    def __init__(self, client: Any) -> None:
        from local.template import create_tables

        self.client = SerialisedClient(client)
        self.env = _table_names()
        create_tables(self.client, self.env, _template())
        self.interleaving = Interleaving()
        self.faults = FaultInjectingClient(self.interleaving.wrap(self.client))

    def tickets(self) -> list[dict[str, Any]]:
        return [item for item in _moto_items(self.env["TicketsTable"]) if item["sk"] == "TICKET"]

    def records(self) -> list[dict[str, Any]]:
        return _moto_items(self.env["PaymentsTable"])

    def shards(self) -> Shards:
        return {
            (int(item["event_id"]), 0 if item["sk"] == "EVENT" else int(item["sk"].removeprefix("SEATS#"))): (
                int(item["available"]),
                int(item["shard_capacity"]),
            )
            for item in _moto_items(self.env["TicketsTable"])
            if item["sk"] == "EVENT" or item["sk"].startswith("SEATS#")
        }

    def unpaid_counters(self) -> dict[tuple[int, str], int]:
        return {
            (int(item["pk"].split("#")[1]), item["pk"].split("#", 2)[2]): int(item.get("held", 0))
            for item in _moto_items(self.env["TicketsTable"])
            if item["sk"] == "UNPAID"
        }

    def close(self) -> None:
        for table in self.env.values():
            self.client.delete_table(TableName=table)


# Each write of a store port, by the DynamoDB request its repository makes for it (an armed fault
# names the requests it meets; a conflict is a transaction's or a single write's, as DynamoDB says).
# (``next_id`` is left out: the repository reserves ids 100 at a time, so a request for an id
# rarely writes at all.)
PORT_WRITES = {
    "put_event": "transact_write_items",
    "create": "transact_write_items",
    "attach_session": "update_item",
    "apply": "transact_write_items",
    "record_money_back": "transact_write_items",
    "check_in": "update_item",
    "mark_processed": "put_item",
    "record_transmission": "put_item",
    "put": "put_item",
    "record": "transact_write_items",
    "apply_state": "update_item",
    "raise_to": "update_item",
    "reservation_for_request": "put_item",
    "reserve": "transact_write_items",
    "release": "transact_write_items",
    "settle_status": "update_item",
    "claim": "put_item",
    "free": "delete_item",
}


class _FaultyPort:
    """A store port whose writes meet the armed faults: refused before anything is written, or
    written and the answer lost, as the repository would see its DynamoDB request fail. (The
    repository retries a conflict within its budget; at the port a conflict is a refused write, the
    harsher case; the retry itself is the moto world's to exercise.)"""

    def __init__(self, port: Any, faults: FaultInjectingClient) -> None:
        self._port = port
        self._faults = faults

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._port, name)
        return self._faults.around(PORT_WRITES[name], attribute) if name in PORT_WRITES else attribute


class MemoryModelStores:
    """The in-memory twins of every store port, each wrapped for the model's interleaving and
    faults. Only Powertools' idempotency records (a request sent with an Idempotency-Key) stay in
    DynamoDB, in a moto table of their own: no twin of that store is held to it by the contract."""

    name = "memory"

    def __init__(self) -> None:
        from local.template import create_tables
        from tests.support.moto_direct import MotoDirect

        # A sharded purchase starts looking for room at a random shard, as the repository does
        # (hypothesis seeds ``random`` for each sequence, so a sequence replays).
        self.stores = MemoryStores(start=random.randrange)
        self.env = _table_names()
        self.client = SerialisedClient(MotoDirect(ACCOUNT, REGION))
        create_tables(self.client, self.env, _template(), skip={self.env["TicketsTable"], self.env["PaymentsTable"]})
        self.interleaving = Interleaving()
        self.faults = FaultInjectingClient(self.interleaving.wrap(self.client))
        self.ports = {
            name: _FaultyPort(self.interleaving.wrap(getattr(self.stores, name)), self.faults)
            for name in ("tickets", "webhooks", "checkpoints", "stripe_objects", "paypal_objects", "paypal_refunds", "stripe_slots")
        }

    def tickets(self) -> list[dict[str, Any]]:
        return list(self.stores.tickets._tickets.values())

    def records(self) -> list[dict[str, Any]]:
        return list(self.stores.payments.items.values())

    def shards(self) -> Shards:
        found: Shards = {}
        for event_id in self.stores.tickets._events:
            # Each shard's own capacity, as a capacity edit leaves it (not always the even split).
            capacities = self.stores.tickets._shard_capacity[event_id]
            for shard, left in self.stores.tickets._seats[event_id].items():
                found[(event_id, shard)] = (left, capacities[shard])
        return found

    def unpaid_counters(self) -> dict[tuple[int, str], int]:
        return {(event_id, owner): held for (kind, event_id, owner), held in self.stores.tickets._held.items() if kind == "UNPAID"}

    def close(self) -> None:
        self.client.delete_table(TableName=self.env["IdempotencyTable"])


@contextmanager
def memory_repositories(current: Callable[[], MemoryModelStores]) -> Iterator[None]:
    """While open, every repository ``payments.wiring`` builds is the current world's in-memory twin
    (the wiring imports each repository class when it builds it, so replacing the class in its
    module is enough; the layer itself is unchanged)."""
    from payments.repositories import checkpoints, paypal_refunds, provider_objects, stripe_slots, tickets, webhook_events

    replaced: list[tuple[Any, str, Any]] = [
        (tickets, "TicketRepository", lambda *args: current().ports["tickets"]),
        (provider_objects, "ProviderObjectRepository", lambda client, table, provider: current().ports[f"{provider}_objects"]),
        (webhook_events, "WebhookEventRepository", lambda *args: current().ports["webhooks"]),
        (checkpoints, "CheckpointRepository", lambda *args: current().ports["checkpoints"]),
        (paypal_refunds, "PayPalRefundRepository", lambda *args: current().ports["paypal_refunds"]),
        (stripe_slots, "StripeSlotRepository", lambda *args: current().ports["stripe_slots"]),
    ]
    stock = [(module, name, getattr(module, name)) for module, name, _ in replaced]
    for module, name, factory in replaced:
        setattr(module, name, factory)
    try:
        yield
    finally:
        for module, name, original in stock:
            setattr(module, name, original)
