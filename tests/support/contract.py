"""Validation of handler requests and answers against docs/openapi.yaml."""

from __future__ import annotations

import functools
import json
from typing import Any

import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from local.template import ROOT


@functools.cache
def api_document() -> Any:
    return OpenAPI.from_dict(yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text()))


def validate_exchange(event: dict[str, Any], response: dict[str, Any], *, check_request: bool = True) -> None:
    """Raises when the answer (and, for a well-formed call, the request) departs from the document."""
    headers = {key.lower(): value for key, value in (event.get("headers") or {}).items()}
    request = MockRequest(
        "http://127.0.0.1:3000",
        event["requestContext"]["http"]["method"].lower(),
        event["rawPath"],
        data=(event.get("body") or "").encode(),
        headers=headers,
        content_type=headers.get("content-type", "application/json"),
    )
    if check_request:
        api_document().validate_request(request)
    answer = MockResponse(
        data=(response.get("body") or "").encode(),
        status_code=response["statusCode"],
        headers=response.get("headers") or {},
        content_type=(response.get("headers") or {}).get("Content-Type", "application/json"),
    )
    api_document().validate_response(request, answer)


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"]) if response.get("body") else None
