"""Provider objects created through the API (Stripe intents, customers, subscriptions; PayPal orders,
captures, refunds), each with its owner and the latest state the provider told us.

A webhook's state is applied only if it is not older than the one recorded: events arrive in any
order, and a stale one must never overwrite a newer state. A write that meets another writer's
transaction on the same item (DynamoDB's TransactionConflict) is StateChanged, caused by that
conflict: the object moved on under us, the reconciliation skips it for its next run, and a webhook
answers 503 (``dynamodb.is_unavailable`` reads the cause) so that the provider retries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from payments.domain.ports import StateChanged
from payments.dynamodb import all_items, from_item, is_condition_failure, is_contention, to_attributes

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class ProviderObjectRepository:
    def __init__(self, client: DynamoDBClient, payments_table: str, provider: str) -> None:
        self._client = client
        self._table = payments_table
        self._prefix = provider.upper()

    def _key(self, kind: str, object_id: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": f"{self._prefix}#{kind}#{object_id}"}, "sk": {"S": "OBJECT"}}

    def get(self, kind: str, object_id: str) -> dict[str, Any] | None:
        result = self._client.get_item(TableName=self._table, Key=self._key(kind, object_id), ConsistentRead=True)
        return from_item(result["Item"]) if "Item" in result else None

    def record(self, kind: str, object_id: str, owner: str, state: dict[str, Any], now: int) -> bool:
        """The first write of an object, never an overwrite: True when this call created it, False when
        the same owner's object was recorded already (a replayed creation, a webhook that overtook the
        call), which keeps everything learned since (later states, refunds). Another owner's object
        is a PermissionError."""
        item = {
            **self._key(kind, object_id),
            **to_attributes({"kind": kind, "object_id": object_id, "owner": owner, "created_at": now, **state}),
        }
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if is_contention(error):
                raise StateChanged() from error
            if not is_condition_failure(error):
                raise
            recorded = from_item(error.response.get("Item") or {})  # type: ignore[arg-type]
            if recorded.get("owner") != owner:
                raise PermissionError(f"{kind} {object_id} belongs to another user") from None
            return False
        return True

    def apply_state(
        self, kind: str, object_id: str, state: dict[str, Any], as_of: int, rank: int = 0, aspect: str = "state"
    ) -> dict[str, Any] | None:
        """Sets ``state`` unless a newer one is recorded: newer by the event's creation time, or at the
        same second by the state's rank (a terminal state outranks the ones before it). Each aspect
        (an object's status, its latest invoice) keeps its own clock. Returns the record as updated,
        or None when nothing was applied (unknown object, or a newer state already recorded)."""
        names = {f"#f{index}": name for index, name in enumerate(state)}
        values = to_attributes({f":v{index}": value for index, value in enumerate(state.values())})
        assignments = ", ".join(f"#f{index} = :v{index}" for index in range(len(state)))
        try:
            result = self._client.update_item(
                TableName=self._table,
                Key=self._key(kind, object_id),
                UpdateExpression=f"SET {assignments}, #as_of = :as_of, #rank = :rank",
                ConditionExpression=(
                    "attribute_exists(pk) AND (attribute_not_exists(#as_of) OR #as_of < :as_of OR (#as_of = :as_of AND #rank <= :rank))"
                ),
                ExpressionAttributeNames={**names, "#as_of": f"{aspect}_as_of", "#rank": f"{aspect}_rank"},
                ExpressionAttributeValues={**values, ":as_of": {"N": str(as_of)}, ":rank": {"N": str(rank)}},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if is_condition_failure(error):
                return None
            if is_contention(error):
                raise StateChanged() from error
            raise
        return from_item(result["Attributes"])

    def unsettled(self, kind: str, settled_statuses: tuple[str, ...], created_since: int) -> list[dict[str, Any]]:
        """Objects of a kind, created since a time, whose last known status is not final. A filtered
        scan: fine for an hourly job on a table of this size; a sparse index would replace it at scale."""
        values = to_attributes({":prefix": f"{self._prefix}#{kind}#", ":since": created_since}) | {
            f":s{index}": {"S": status} for index, status in enumerate(settled_statuses)
        }
        settled = ", ".join(f":s{index}" for index in range(len(settled_statuses)))
        items = all_items(
            self._client.scan,
            TableName=self._table,
            FilterExpression=f"begins_with(pk, :prefix) AND created_at >= :since AND NOT #status IN ({settled})",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values,
        )
        return [from_item(item) for item in items]

    def raise_to(self, kind: str, object_id: str, field: str, value: int) -> bool:
        """A counter that only grows (an amount refunded so far), whatever order its events come in."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(kind, object_id),
                UpdateExpression="SET #field = :value",
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(#field) OR #field < :value)",
                ExpressionAttributeNames={"#field": field},
                ExpressionAttributeValues={":value": {"N": str(value)}},
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            if is_contention(error):
                raise StateChanged() from error
            raise
        return True
