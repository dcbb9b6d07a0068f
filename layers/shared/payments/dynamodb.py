"""One low-level DynamoDB client per container and the (de)serialisation of items."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config

from payments.settings import get_settings
from payments.snapstart import before_snapshot

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


@functools.cache
def get_client() -> DynamoDBClient:
    settings = get_settings()
    config = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=2, read_timeout=5)
    return boto3.client("dynamodb", endpoint_url=settings.dynamodb_endpoint, config=config)


def to_attributes(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in values.items() if value is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


def is_condition_failure(error: Exception) -> bool:
    code = getattr(error, "response", {}).get("Error", {}).get("Code")
    return code in ("ConditionalCheckFailedException", "TransactionCanceledException")


def cancellation_reasons(error: Exception) -> list[str]:
    """The per-item codes of a cancelled transaction ("None" for items that passed)."""
    reasons = getattr(error, "response", {}).get("CancellationReasons") or []
    return [reason.get("Code", "None") for reason in reasons]


before_snapshot(get_client)
