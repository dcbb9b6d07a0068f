"""DynamoDB helpers for tests: reading raw items and serialising calls across threads."""

from __future__ import annotations

import threading
from typing import Any

from payments.dynamodb import from_item

TICKETS = "test-tickets"
PAYMENTS = "test-payments"


def scan(client: Any, table: str) -> list[dict[str, Any]]:
    return [from_item(item) for item in client.scan(TableName=table)["Items"]]


def items_with_prefix(client: Any, table: str, prefix: str) -> list[dict[str, Any]]:
    return [item for item in scan(client, table) if str(item["pk"]).startswith(prefix)]


class SerialisedClient:
    """Real DynamoDB applies each request atomically; moto does not lock, so concurrent tests pass
    every call through one lock (as the local stack's embedded DynamoDB does). Reentrant: the money
    model's interleaving runner and its own reads pass through it too."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.RLock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return call


class Unprocessing:
    """DynamoDB under throttling: a batch read's keys are left unprocessed ``times`` times over."""

    def __init__(self, client: Any, times: int) -> None:
        self._client, self.times = client, times

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_get_item(self, RequestItems: dict[str, Any]) -> Any:
        if self.times > 0:
            self.times -= 1
            return {"Responses": {}, "UnprocessedKeys": RequestItems}
        return self._client.batch_get_item(RequestItems=RequestItems)
