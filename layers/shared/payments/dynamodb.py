"""One low-level DynamoDB client per container and the (de)serialisation of items.

The client comes from botocore itself: importing the boto3 package (which its DynamoDB type
serialiser would need) costs 35-50 ms of every cold start (s3transfer, multiprocessing, ...) for a
convenience this package does not use. The few attribute types the items hold are converted here."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from payments.errors import Busy
from payments.retries import with_backoff
from payments.settings import get_settings
from payments.snapstart import before_snapshot

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@functools.cache
def botocore_session() -> botocore.session.Session:
    """One botocore session per container: a second client (SSM for secrets) reuses what it loaded."""
    return botocore.session.get_session()


@functools.cache
def get_client() -> DynamoDBClient:
    settings = get_settings()
    config = Config(
        retries={"mode": "standard", "max_attempts": settings.dynamodb_max_attempts},
        connect_timeout=settings.dynamodb_connect_timeout_seconds,
        read_timeout=settings.dynamodb_read_timeout_seconds,
    )
    client = botocore_session().create_client("dynamodb", endpoint_url=settings.dynamodb_endpoint, config=config)
    return cast("DynamoDBClient", client)


def serialize(value: Any) -> dict[str, Any]:
    """A Python value as a DynamoDB attribute value (as boto3's TypeSerializer writes it)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes | bytearray):
        return {"B": bytes(value)}
    if isinstance(value, Mapping):
        return {"M": {str(key): serialize(item) for key, item in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [serialize(item) for item in value]}
    # Floats are refused, as boto3 refuses them: money and counts are Decimal or int here.
    raise TypeError(f"{type(value).__name__} cannot be stored in DynamoDB")


def deserialize(attribute: Mapping[str, Any]) -> Any:
    """A DynamoDB attribute value as Python (numbers as Decimal, as boto3's TypeDeserializer reads them)."""
    ((kind, value),) = attribute.items()
    match kind:
        case "S":
            return value
        case "N":
            return Decimal(value)
        case "BOOL":
            return bool(value)
        case "NULL":
            return None
        case "M":
            return {key: deserialize(item) for key, item in value.items()}
        case "L":
            return [deserialize(item) for item in value]
        case "B":
            return bytes(value)
        case "SS":
            return set(value)
        case "NS":
            return {Decimal(item) for item in value}
    raise TypeError(f"unsupported DynamoDB attribute type {kind}")


def to_attributes(values: dict[str, Any]) -> dict[str, Any]:
    return {key: serialize(value) for key, value in values.items() if value is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: deserialize(value) for key, value in item.items()}


def all_items(call: Callable[..., Any], **request: Any) -> Iterator[dict[str, Any]]:
    """Every item a Query or Scan finds, fetching the next page only when the caller reads on."""
    while True:
        page = call(**request)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class _Unprocessed(Exception):
    """A batch read left keys unprocessed (throttled): asked again within the budget."""


def batch_get_all(client: DynamoDBClient, table: str, request: dict[str, Any], *, budget_seconds: float, what: str) -> list[dict[str, Any]]:
    """Every item of one table's BatchGetItem ``request`` (its ``Keys``, at most 100, and options).
    Keys DynamoDB leaves unprocessed are asked again with backoff within ``budget_seconds``; then the
    read fails as throttled (a ClientError, answered 503), never answers with ``what`` missing."""
    found: list[dict[str, Any]] = []
    pending: dict[str, Any] = {table: request}

    def read() -> None:
        nonlocal pending
        result = client.batch_get_item(RequestItems=pending)
        found.extend(result.get("Responses", {}).get(table, []))
        pending = {name: rest for name, rest in (result.get("UnprocessedKeys") or {}).items() if rest.get("Keys")}
        if pending:
            raise _Unprocessed()

    try:
        with_backoff(read, _Unprocessed, budget_seconds)
    except _Unprocessed:
        throttled: Any = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": f"{what} unread"}}
        raise ClientError(throttled, "BatchGetItem") from None
    return found


def is_condition_failure(error: Exception) -> bool:
    code = (getattr(error, "response", None) or {}).get("Error", {}).get("Code")
    return code in ("ConditionalCheckFailedException", "TransactionCanceledException")


def cancellation_reasons(error: Exception) -> list[str]:
    """The per-item codes of a cancelled transaction ("None" for items that passed)."""
    reasons = (getattr(error, "response", None) or {}).get("CancellationReasons") or []
    return [reason.get("Code", "None") for reason in reasons]


# A cancelled transaction's per-item reasons that a later attempt can get past (DynamoDB's own advice
# for TransactionConflict and throttling is to retry with backoff).
CONTENTION_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"})
# Error codes that mean DynamoDB could not take the request now; botocore has already retried them.
UNAVAILABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
        "TransactionInProgressException",
    }
)
# How long a write keeps retrying contention before the caller is told to retry (503).
CONTENTION_BUDGET_SECONDS = 2.0


def error_code(error: Exception) -> str | None:
    code = (getattr(error, "response", None) or {}).get("Error", {}).get("Code")
    return str(code) if code else None


def is_contention(error: Exception) -> bool:
    """A write that failed because of other writers or throttling, not because its conditions failed."""
    if error_code(error) == "TransactionConflictException":
        return True
    if error_code(error) != "TransactionCanceledException":
        return False
    reasons = set(cancellation_reasons(error))
    return bool(reasons & CONTENTION_REASONS) and "ConditionalCheckFailed" not in reasons


def is_unavailable(error: BaseException) -> bool:
    """DynamoDB unreachable, failing or throttling past botocore's own retries: a 503, not our bug.
    Also when that is the cause of a library's own error (Powertools' idempotency store wraps it)."""
    from botocore.exceptions import ConnectionError as BotocoreConnectionError
    from botocore.exceptions import ReadTimeoutError

    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, BotocoreConnectionError | ReadTimeoutError):
            return True
        if isinstance(cause, Exception) and (error_code(cause) in UNAVAILABLE_CODES or is_contention(cause)):
            return True
        cause = cause.__cause__
    return False


class _Contended(Exception):
    pass


def write_with_retry[T](call: Callable[[], T], budget_seconds: float = CONTENTION_BUDGET_SECONDS) -> T:
    """``call()`` retried with jittered backoff while it meets contention; ``Busy`` (503 with
    Retry-After) once the budget is spent. Conditions that fail are the caller's to read."""

    def attempt() -> T:
        try:
            return call()
        except Exception as error:
            if is_contention(error):
                raise _Contended() from error
            raise

    try:
        return with_backoff(attempt, _Contended, budget_seconds)
    except _Contended:
        raise Busy() from None


before_snapshot(get_client)
