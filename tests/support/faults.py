"""DynamoDB faults injected soundly: above botocore, so that a refused write is never applied and a
write whose answer is lost is applied exactly once. (A botocore ``before-send`` hook is not sound
with moto: moto may apply the request as well, so a test would assert on a state that real
DynamoDB would not have.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError

WRITES = frozenset({"put_item", "update_item", "delete_item", "transact_write_items"})


def client_error(operation: str, code: str, reasons: list[str] | None = None) -> ClientError:
    response: dict[str, Any] = {"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": 400}}
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": reason} for reason in reasons]
    return ClientError(response, operation)  # type: ignore[arg-type]


def conflict(operation: str) -> ClientError:
    """What DynamoDB answers a write that overlaps a transaction on the same item: a transaction is
    cancelled with the reason per item; a single-item write fails with TransactionConflictException."""
    if operation == "transact_write_items":
        return client_error(operation, "TransactionCanceledException", ["TransactionConflict", "None"])
    return client_error(operation, "TransactionConflictException")


def throttled(operation: str) -> ClientError:
    return client_error(operation, "ProvisionedThroughputExceededException")


@dataclass
class Fault:
    operations: frozenset[str]
    error: Any  # a function of the operation's name that gives the exception to raise
    applied: bool  # False: refused before DynamoDB saw it; True: applied, then its answer was lost
    times: int


@dataclass
class FaultInjectingClient:
    client: Any
    faults: list[Fault] = field(default_factory=list)
    injected: int = 0

    def refuse(self, error: Any = conflict, operations: frozenset[str] = WRITES, times: int = 1) -> None:
        self.faults.append(Fault(operations, error, applied=False, times=times))

    def lose_answer(self, operations: frozenset[str] = WRITES, times: int = 1) -> None:
        def timeout(operation: str) -> Exception:
            return ReadTimeoutError(endpoint_url="https://dynamodb.local")

        self.faults.append(Fault(operations, timeout, applied=True, times=times))

    def clear(self) -> None:
        self.faults.clear()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.client, name)
        if name not in WRITES:
            return attribute
        return self.around(name, attribute)

    def around(self, name: str, attribute: Any) -> Any:
        """``attribute`` (a write DynamoDB names ``name``) meeting the armed faults: also what a store
        port of the in-memory world calls through, so that one set of faults covers both worlds."""

        def call(*args: Any, **kwargs: Any) -> Any:
            fault = next((fault for fault in self.faults if name in fault.operations and fault.times > 0), None)
            if fault is None:
                return attribute(*args, **kwargs)
            fault.times -= 1
            self.injected += 1
            operation = "".join(part.capitalize() for part in name.split("_"))
            if fault.applied:
                attribute(*args, **kwargs)
            raise fault.error(operation)

        return call
