"""moto's DynamoDB without the HTTP round trip: a client that hands each request straight to moto's
DynamoDB handler. botocore's and moto's HTTP serialisation are most of the time a request through
``boto3`` and ``mock_aws`` takes; the flash-sale model and the money model's fast world run
thousands of requests and call this instead (``tests/integration/test_flash_sale_model.py`` and the
money model's HTTP slice check it against boto3 through moto)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError
from moto.core.exceptions import JsonRESTError
from moto.dynamodb.responses import DynamoHandler


class MotoDirect:
    """A DynamoDB client answering from moto's DynamoDB handler without the HTTP round trip: the
    request is the JSON body botocore would send (DynamoDB's protocol is JSON, attribute values
    already typed), the answer the body moto would send back, and moto's errors become botocore's
    ``ClientError`` with the body's fields (``CancellationReasons``, ``Item``) beside ``Error``, as
    botocore's JSON parser places them. Not thread-safe: callers serialise (moto has no locks)."""

    def __init__(self, account: str = "123456789012", region: str = "eu-west-1") -> None:
        self._handler = DynamoHandler()
        self._handler.current_account = account
        self._handler.region = region

    def __getattr__(self, operation: str) -> Any:
        action = getattr(self._handler, operation)

        def call(**request: Any) -> Any:
            self._handler.body = self._handler.params = request
            try:
                return action().result
            except JsonRESTError as error:
                body = json.loads(error.description) if error.description.startswith("{") else {}
                code = error.error_type.rpartition("#")[2]
                fields = {name: value for name, value in body.items() if name not in ("__type", "message", "Message")}
                response: Any = {"Error": {"Code": code, "Message": error.message}, **fields}
                raise ClientError(response, operation) from None

        return call
