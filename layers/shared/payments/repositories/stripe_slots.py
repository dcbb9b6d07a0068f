"""The Checkout Session slots (``payments.domain.pacing``) in the tickets table: slot *n* is the item
``STRIPE#SLOT#<n>`` / ``SLOT``, a partition key of its own (about ``StripeSessionRate`` writes a
second in all, one per slot), written once by the purchase that claims it (a conditional put,
``attribute_not_exists(pk)``) and left to the table's TTL (``ttl``) minutes after its slot, or
deleted at once when its purchase is refused before calling Stripe."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from payments.dynamodb import is_condition_failure

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SORT_KEY = "SLOT"
# BatchGetItem's most keys in one request.
BATCH = 100


def slot_key(slot: int) -> dict[str, Any]:
    return {"pk": {"S": f"STRIPE#SLOT#{slot}"}, "sk": {"S": SORT_KEY}}


class StripeSlotRepository:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def taken(self, slots: Sequence[int]) -> set[int]:
        """Eventually consistent (half the read units): a slot read free but just taken fails its claim."""
        found: set[int] = set()
        for start in range(0, len(slots), BATCH):
            keys = [slot_key(slot) for slot in slots[start : start + BATCH]]
            answer = self._client.batch_get_item(RequestItems={self._table: {"Keys": keys, "ProjectionExpression": "pk"}})
            # Keys left unprocessed (throttling) are not known taken: their claim finds out.
            for item in answer.get("Responses", {}).get(self._table, []):
                found.add(int(item["pk"]["S"].rsplit("#", 1)[1]))
        return found

    def claim(self, slot: int, expires_at: int) -> bool:
        try:
            self._client.put_item(
                TableName=self._table,
                Item={**slot_key(slot), "slot": {"N": str(slot)}, "ttl": {"N": str(expires_at)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except Exception as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def free(self, slot: int) -> None:
        self._client.delete_item(TableName=self._table, Key=slot_key(slot))
