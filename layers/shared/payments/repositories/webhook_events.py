"""Which provider webhook events have been applied, so that a redelivery changes nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from payments.dynamodb import is_condition_failure, to_attributes

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Stripe retries for 3 days and PayPal for about as long; a record outlives both.
RETENTION_SECONDS = 30 * 24 * 3600


class WebhookEventRepository:
    def __init__(self, client: DynamoDBClient, payments_table: str) -> None:
        self._client = client
        self._table = payments_table

    @staticmethod
    def _key(provider: str, event_id: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": f"WEBHOOK#{provider}#{event_id}"}, "sk": {"S": "WEBHOOK"}}

    def is_processed(self, provider: str, event_id: str) -> bool:
        result = self._client.get_item(TableName=self._table, Key=self._key(provider, event_id), ConsistentRead=True)
        return "Item" in result

    def mark_processed(self, provider: str, event_id: str, event_type: str, now: int) -> bool:
        """Records the event after its effects are written; False when a concurrent delivery got there first."""
        attributes = to_attributes(
            {"provider": provider, "event_id": event_id, "type": event_type, "processed_at": now, "ttl": now + RETENTION_SECONDS}
        )
        try:
            self._client.put_item(
                TableName=self._table,
                Item={**self._key(provider, event_id), **attributes},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def record_transmission(self, provider: str, transmission_id: str, body_sha256: str, now: int, keep_until: int) -> bool:
        """Records a verified delivery's transmission id with its body's SHA-256, in one conditional
        write: False when the id is already recorded with another body (a signature replayed over
        another body with the same CRC32). The same body again is a retransmission: it passes, and
        the event's own record makes it a duplicate. Kept (TTL) until no delivery of that id can
        pass the time check any more."""
        key = {"pk": {"S": f"WEBHOOK_TRANSMISSION#{provider}#{transmission_id}"}, "sk": {"S": "TRANSMISSION"}}
        attributes = to_attributes(
            {"provider": provider, "transmission_id": transmission_id, "body_sha256": body_sha256, "recorded_at": now, "ttl": keep_until}
        )
        try:
            self._client.put_item(
                TableName=self._table,
                Item={**key, **attributes},
                ConditionExpression="attribute_not_exists(pk) OR body_sha256 = :body_sha256",
                ExpressionAttributeValues={":body_sha256": {"S": body_sha256}},
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True
