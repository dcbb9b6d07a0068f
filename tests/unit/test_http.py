import base64
import json

from payments.errors import NotFound
from payments.http import MAX_BODY_BYTES, api_handler, json_body, json_response
from tests.support.lambdas import LambdaContext


@api_handler
def echo(event, context):
    return json_response(200, json_body(event))


@api_handler
def not_found(event, context):
    raise NotFound("Ticket not found")


@api_handler
def crashing(event, context):
    raise RuntimeError("secret sk_test_123 leaked into an exception")


def run(handler, body, **extra):
    response = handler({"body": body, **extra}, LambdaContext())
    return response["statusCode"], json.loads(response["body"])


def test_numbers_keep_their_exact_value():
    status, body = run(echo, '{"amount": 29.99, "n": 3}')
    assert (status, body) == (200, {"amount": 29.99, "n": 3})


def test_a_base64_body_is_decoded_first():
    encoded = base64.b64encode(b'{"ticket_id": 7}').decode()
    assert run(echo, encoded, isBase64Encoded=True) == (200, {"ticket_id": 7})


def test_malformed_bodies_are_400_with_a_reason():
    assert run(echo, "{not json") == (400, {"error": "Request body is not valid JSON"})
    assert run(echo, "[1, 2]") == (400, {"error": "Request body must be a JSON object"})
    assert run(echo, "") == (400, {"error": "Request body is required"})
    assert run(echo, "%%%", isBase64Encoded=True) == (400, {"error": "Request body is not valid base64"})


def test_oversized_bodies_are_refused():
    status, body = run(echo, json.dumps({"x": "a" * MAX_BODY_BYTES}))
    assert status == 413
    assert "too large" in body["error"]


def test_api_errors_keep_their_status_and_message():
    assert run(not_found, "{}") == (404, {"error": "Ticket not found"})


def test_unexpected_errors_are_500_without_details():
    status, body = run(crashing, "{}")
    assert (status, body) == (500, {"error": "Internal server error"})


@api_handler
def idempotency_store_throttled(event, context):
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyPersistenceLayerError
    from botocore.exceptions import ClientError

    throttled = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "PutItem")
    raise IdempotencyPersistenceLayerError("Failed to save in progress record to idempotency store", throttled) from throttled


def test_dynamodb_unavailable_behind_a_librarys_own_error_is_503_not_500():
    response = idempotency_store_throttled({"body": "{}"}, LambdaContext())
    assert (response["statusCode"], response["headers"]["Retry-After"]) == (503, "2")
    assert json.loads(response["body"]) == {"error": "The service is busy; please retry shortly"}
