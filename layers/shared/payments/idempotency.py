"""Client idempotency (``Idempotency-Key``), scoped to the caller: a retried request returns the
first answer; the same key with another body is 422; a duplicate while the first still runs is 409.

Backed by Powertools' idempotency utility, imported only when a request carries a key."""

from __future__ import annotations

import functools
import hashlib
import re
import uuid
from collections.abc import Callable
from typing import Any

from payments.auth import Caller
from payments.context import current_lambda_context
from payments.errors import BadRequest, ConfigurationError, Conflict, Unprocessable
from payments.settings import get_settings

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")


def provider_key(caller: Caller, operation: str, client_key: str | None) -> str:
    """The idempotency key sent to the provider: derived from the client's key when there is one,
    so that a retry of the same request can never create a second object."""
    if client_key is None:
        return f"{operation}-{uuid.uuid4()}"
    digest = hashlib.sha256(f"{caller.user_id}\x00{operation}\x00{client_key}".encode()).hexdigest()[:40]
    return f"{operation}-{digest}"


@functools.cache
def persistence_layer() -> Any:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from payments.dynamodb import get_client

    table = get_settings().idempotency_table
    if not table:
        raise ConfigurationError("IDEMPOTENCY_TABLE is not configured")
    return DynamoDBPersistenceLayer(table_name=table, boto3_client=get_client())


def run_once(
    caller: Caller, operation: str, client_key: str | None, body: dict[str, Any], compute: Callable[[str], dict[str, Any]]
) -> dict[str, Any]:
    """Runs ``compute(provider_key)`` once per (caller, operation, client key) and replays its answer."""
    if client_key is None:
        return compute(provider_key(caller, operation, None))
    if not KEY_PATTERN.fullmatch(client_key):
        raise BadRequest("Idempotency-Key: must be 1 to 255 printable ASCII characters")

    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    config = IdempotencyConfig(
        event_key_jmespath="scope",
        payload_validation_jmespath="body",
        expires_after_seconds=get_settings().idempotency_ttl_seconds,
    )
    context = current_lambda_context.get()
    if context is not None:  # an in-progress record then expires with the invocation
        config.register_lambda_context(context)
    key = provider_key(caller, operation, client_key)

    @idempotent_function(data_keyword_argument="request", persistence_store=persistence_layer(), config=config, key_prefix=operation)  # type: ignore[untyped-decorator]
    def run(request: dict[str, Any]) -> dict[str, Any]:
        return compute(key)

    try:
        result: dict[str, Any] = run(request={"scope": f"{caller.user_id}:{operation}:{client_key}", "body": body})
    except IdempotencyAlreadyInProgressError:
        raise Conflict("A request with this Idempotency-Key is still in progress", headers={"Retry-After": "1"}) from None
    except IdempotencyValidationError:
        raise Unprocessable("Idempotency-Key was already used with a different request body") from None
    return result
