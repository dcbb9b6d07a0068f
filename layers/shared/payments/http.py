"""API Gateway HTTP API (payload 2.0) plumbing: body parsing, JSON responses and the one place
where exceptions become ``{"error": ...}`` answers (and a request's metrics are written)."""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from payments import metrics
from payments.context import current_lambda_context
from payments.dynamodb import is_unavailable
from payments.errors import UNAUTHORIZED_BODY, ApiError, AuthorizerRefused, BadRequest, InvalidField, PayloadTooLarge
from payments.json_input import load_json
from payments.models.common import Context, RequestModel, validate
from payments.observability import logger

Event = dict[str, Any]
Response = dict[str, Any]
Handler = Callable[[Event, Any], Response]

MAX_BODY_BYTES = 64 * 1024


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_response(status_code: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    return {
        "statusCode": status_code,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(body, default=_json_default),
    }


def text_response(status_code: int, body: str, content_type: str, headers: Mapping[str, str] | None = None) -> Response:
    """An answer that is not JSON (the attendee export's CSV): the text as given, with its type."""
    return {"statusCode": status_code, "headers": {"Content-Type": content_type, **(headers or {})}, "body": body}


def error_response(
    status_code: int, message: str, headers: Mapping[str, str] | None = None, fields: Mapping[str, object] | None = None
) -> Response:
    return json_response(status_code, {"error": message, **(fields or {})}, headers)


def raw_body(event: Event) -> bytes:
    """The body exactly as received; API Gateway may deliver it base64-encoded."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("Request body is not valid base64") from None
    else:
        try:
            data = body.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest("Request body is not valid UTF-8") from None
    if len(data) > MAX_BODY_BYTES:
        raise PayloadTooLarge()
    return data


def json_body(event: Event) -> dict[str, Any]:
    data = raw_body(event)
    if not data.strip():
        raise BadRequest("Request body is required")
    parsed = load_json(data)
    if not isinstance(parsed, dict):
        raise BadRequest("Request body must be a JSON object")
    return parsed


def parse_body[ModelT: RequestModel](event: Event, model: type[ModelT], context: Context | None = None) -> ModelT:
    try:
        body = json_body(event)
    except InvalidField as refused:
        # A number refused while parsing, in a field the request does not have: the field is what is
        # wrong, whatever it holds (the same answer as for any unknown field).
        if model.model_config.get("extra") == "forbid" and refused.field not in model.model_fields and refused.field != "body":
            raise InvalidField(refused.field, "unknown field") from None
        raise
    return validate(model, body, context)


def parse_path[ModelT: RequestModel](event: Event, model: type[ModelT]) -> ModelT:
    return validate(model, event.get("pathParameters") or {})


def parse_query[ModelT: RequestModel](event: Event, model: type[ModelT]) -> ModelT:
    return validate(model, event.get("queryStringParameters") or {})


def headers(event: Event) -> dict[str, str]:
    """HTTP API lower-cases header names; a local or test event may not."""
    return {str(key).lower(): str(value) for key, value in (event.get("headers") or {}).items()}


def header(event: Event, name: str) -> str | None:
    return headers(event).get(name.lower())


def api_handler(handler: Handler) -> Handler:
    """Wraps a ``lambda_handler``: structured logging with the request id as correlation id, and
    every exception turned into the contract's error body with the right status."""

    @functools.wraps(handler)
    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
    @metrics.flushed
    def wrapper(event: Event, context: Any) -> Response:
        current_lambda_context.set(context)
        try:
            return handler(event, context)
        except ApiError as error:
            if error.status_code >= 500:
                logger.exception("Request failed", extra={"status": error.status_code})
            else:
                logger.info("Request refused", extra={"status": error.status_code, "reason": error.message})
            if isinstance(error, AuthorizerRefused):  # API Gateway's own answer, not ours
                return json_response(error.status_code, UNAUTHORIZED_BODY, error.headers)
            return error_response(error.status_code, error.message, error.headers, error.fields)
        except Exception as error:
            if is_unavailable(error):
                logger.exception("DynamoDB unavailable")
                return error_response(503, "The service is busy; please retry shortly", {"Retry-After": "2"})
            logger.exception("Unhandled error")
            return error_response(500, "Internal server error")

    return wrapper
