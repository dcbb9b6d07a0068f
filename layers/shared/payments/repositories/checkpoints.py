"""Where a long-running job (the reconciliation) left off, so that its next run continues from there."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from payments.dynamodb import from_item, to_attributes

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class CheckpointRepository:
    def __init__(self, client: DynamoDBClient, payments_table: str) -> None:
        self._client = client
        self._table = payments_table

    @staticmethod
    def _key(job: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": f"CHECKPOINT#{job}"}, "sk": {"S": "CHECKPOINT"}}

    def get(self, job: str) -> dict[str, Any]:
        result = self._client.get_item(TableName=self._table, Key=self._key(job), ConsistentRead=True)
        if "Item" not in result:
            return {}
        return {key: value for key, value in from_item(result["Item"]).items() if key not in ("pk", "sk")}

    def put(self, job: str, state: dict[str, Any]) -> None:
        self._client.put_item(TableName=self._table, Item={**self._key(job), **to_attributes(state)})
