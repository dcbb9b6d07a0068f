"""Loading the functions' handlers and building their events from ``events/*.json``."""

from __future__ import annotations

import base64
import copy
import functools
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:test-function"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"
    remaining_millis: int = 20_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


@functools.cache
def load_module(function: str) -> ModuleType:
    """Every function's module is named ``app``; each gets a unique name here."""
    path = ROOT / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"functions_{function}_app", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sample_event(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((EVENTS / f"{name}.json").read_text()))


def api_event(
    name: str,
    body: Any = None,
    *,
    user: str | None = "user-alice",
    groups: str | None = None,
    raw_body: str | None = None,
    path_params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    event = sample_event(name)
    text = raw_body if raw_body is not None else (json.dumps(body, default=float) if body is not None else event.get("body"))
    if base64_body and text is not None:
        event["body"], event["isBase64Encoded"] = base64.b64encode(text.encode()).decode(), True
    else:
        event["body"] = text
    claims = event.get("requestContext", {}).get("authorizer", {}).get("jwt", {}).get("claims")
    if claims is not None:
        if user is None:
            del event["requestContext"]["authorizer"]
        else:
            claims["sub"] = user
            claims["cognito:groups"] = groups if groups is not None else "[customers]"
    if path_params is not None:
        event["pathParameters"] = path_params
    if headers:
        event["headers"].update(headers)
    return event


@dataclass
class ApiResult:
    status: int
    body: Any
    headers: dict[str, str]


def invoke(function: str, event: dict[str, Any]) -> ApiResult:
    response = load_module(function).lambda_handler(event, LambdaContext(function_name=function))
    headers = response.get("headers", {})
    text = response.get("body")
    # A JSON answer as its value; another (the attendee export's CSV) as its text.
    json_answer = headers.get("Content-Type", "application/json").startswith("application/json")
    body = (json.loads(text) if json_answer else text) if text else None
    return ApiResult(response["statusCode"], body, headers)


def call(function: str, body: Any = None, **options: Any) -> ApiResult:
    return invoke(function, api_event(function, body, **options))
