"""The stores of one world, in memory (``tests.support.memory_stores``) or DynamoDB (the
repositories over moto), each with an inspector that reads what the ports do not: seats by shard,
the owners' seat counters and the records of the payments table. The contract suite
(``tests/contract``) runs one suite over both and compares them on the same observations."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from payments.domain.paypal_refunds import PayPalRefundStore
from payments.domain.ports import (
    CheckpointStore,
    CustomerTickets,
    DoorTickets,
    EventStore,
    ProviderObjectStore,
    QueueStore,
    TicketStore,
    TransmissionStore,
    WebhookEventStore,
)
from tests.support.memory_stores import MemoryStores


class Inspector(Protocol):
    def seats(self, event_id: int) -> dict[int, int]: ...

    def unpaid(self, event_id: int, owner: str) -> int: ...

    def free(self, event_id: int, owner: str) -> int: ...

    def record(self, pk: str, sk: str) -> dict[str, Any] | None: ...


class Tickets(TicketStore, EventStore, DoorTickets, CustomerTickets, Protocol):
    """Every ticket and event port: one repository (one table) in both worlds."""


class Ledger(WebhookEventStore, TransmissionStore, Protocol):
    """The webhook ledger and the transmissions: one repository (one table) in both worlds."""


class StoreWorld(Protocol):
    name: str
    tickets: Tickets
    webhooks: Ledger
    checkpoints: CheckpointStore
    stripe_objects: ProviderObjectStore
    paypal_objects: ProviderObjectStore
    paypal_refunds: PayPalRefundStore
    queues: QueueStore
    inspect: Inspector


class MemoryInspector:
    def __init__(self, stores: MemoryStores) -> None:
        self._stores = stores

    def seats(self, event_id: int) -> dict[int, int]:
        return self._stores.tickets.availability(event_id)

    def unpaid(self, event_id: int, owner: str) -> int:
        return self._stores.tickets.unpaid_seats(event_id, owner)

    def free(self, event_id: int, owner: str) -> int:
        return self._stores.tickets.free_seats(event_id, owner)

    def record(self, pk: str, sk: str) -> dict[str, Any] | None:
        return self._stores.payments.get(pk, sk)


class MemoryWorld:
    name = "memory"

    def __init__(self) -> None:
        stores = MemoryStores()
        self.tickets: Tickets = stores.tickets
        self.webhooks: Ledger = stores.webhooks
        self.checkpoints: CheckpointStore = stores.checkpoints
        self.stripe_objects: ProviderObjectStore = stores.stripe_objects
        self.paypal_objects: ProviderObjectStore = stores.paypal_objects
        self.paypal_refunds: PayPalRefundStore = stores.paypal_refunds
        self.queues: QueueStore = stores.queues
        self.inspect: Inspector = MemoryInspector(stores)


class DynamoInspector:
    """Reads through the repository's own key helpers, so that a change of keys follows here."""

    def __init__(self, client: Any, tickets_table: str, payments_table: str) -> None:
        from payments.repositories.tickets import TicketRepository

        self._client = client
        self._payments = payments_table
        self._tickets = TicketRepository(client, tickets_table, payments_table)

    def seats(self, event_id: int) -> dict[int, int]:
        return self._tickets.availability(event_id)

    def unpaid(self, event_id: int, owner: str) -> int:
        return self._tickets.unpaid_seats(event_id, owner)

    def free(self, event_id: int, owner: str) -> int:
        from payments.repositories import tickets

        return self._tickets._held_now(tickets._free_key(event_id, owner))

    def record(self, pk: str, sk: str) -> dict[str, Any] | None:
        from payments.dynamodb import from_item

        found = self._client.get_item(TableName=self._payments, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True)
        return from_item(found["Item"]) if "Item" in found else None


class DynamoWorld:
    name = "moto"

    def __init__(self, client: Any, tickets_table: str, payments_table: str) -> None:
        from payments.repositories.checkpoints import CheckpointRepository
        from payments.repositories.paypal_refunds import PayPalRefundRepository
        from payments.repositories.provider_objects import ProviderObjectRepository
        from payments.repositories.queue import QueueRepository
        from payments.repositories.tickets import TicketRepository
        from payments.repositories.webhook_events import WebhookEventRepository

        self.tickets: Tickets = TicketRepository(client, tickets_table, payments_table)
        self.webhooks: Ledger = WebhookEventRepository(client, payments_table)
        self.checkpoints: CheckpointStore = CheckpointRepository(client, payments_table)
        self.stripe_objects: ProviderObjectStore = ProviderObjectRepository(client, payments_table, "stripe")
        self.paypal_objects: ProviderObjectStore = ProviderObjectRepository(client, payments_table, "paypal")
        self.paypal_refunds: PayPalRefundStore = PayPalRefundRepository(client, payments_table)
        self.queues: QueueStore = QueueRepository(client, tickets_table)
        self.inspect: Inspector = DynamoInspector(client, tickets_table, payments_table)


_worlds = itertools.count(1)


@contextmanager
def moto_world() -> Iterator[DynamoWorld]:
    """The repositories over moto's DynamoDB handler, called directly (``MotoDirect``: no HTTP
    round trip, no ``mock_aws``), on tables of their own made from template.yaml and dropped after."""
    from local.template import create_tables
    from tests.support.moto_direct import MotoDirect

    client = MotoDirect()
    suffix = next(_worlds)
    names = {
        "TicketsTable": f"contract-tickets-{suffix}",
        "PaymentsTable": f"contract-payments-{suffix}",
        "IdempotencyTable": f"contract-idem-{suffix}",
    }
    create_tables(client, names, skip={names["IdempotencyTable"]})
    try:
        yield DynamoWorld(client, names["TicketsTable"], names["PaymentsTable"])
    finally:
        for table in (names["TicketsTable"], names["PaymentsTable"]):
            client.delete_table(TableName=table)
