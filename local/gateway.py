"""A local API Gateway HTTP API: each request becomes the payload 2.0 event AWS would deliver, and
the matching function's ``lambda_handler`` is called with a context object."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_to_bytes

from werkzeug.wrappers import Request, Response

from local import site
from local.functions import LocalApp, LocalFunction, Route
from local.hosts import LOOPBACK_HOSTS, refusal, served_names
from local.jwt_keys import LocalAuthority, TokenRejected, claims_as_http_api_passes_them
from payments.errors import UNAUTHORIZED_BODY, BadRequest
from payments.json_input import load_json

TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded", "application/xml")


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int
    timeout_s: int
    aws_request_id: str
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        self.invoked_function_arn = f"arn:aws:lambda:local:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def build_event(request: Request, route: Route, path_params: dict[str, str], claims: dict[str, Any] | None) -> dict[str, Any]:
    body = request.get_data()
    content_type = request.headers.get("Content-Type", "")
    is_text = not body or content_type.startswith(TEXT_TYPES)
    if is_text:
        try:
            text_body: str | None = body.decode("utf-8") if body else None
        except UnicodeDecodeError:
            is_text = False
    if not is_text:
        text_body = base64.b64encode(body).decode("ascii")
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    # As API Gateway adds it (the scheme the client used): a queue status URL on the API itself names it.
    headers["x-forwarded-proto"] = request.scheme
    now = datetime.now(UTC)
    request_id = str(uuid.uuid4())
    context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "local",
        "domainName": request.host,
        "domainPrefix": request.host.split(".")[0],
        "http": {
            "method": request.method,
            "path": request.path,
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "sourceIp": request.remote_addr or "127.0.0.1",
            "userAgent": request.headers.get("User-Agent", ""),
        },
        "requestId": request_id,
        "routeKey": route.route_key,
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": claims_as_http_api_passes_them(claims), "scopes": None}}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": request.path,
        "rawQueryString": request.query_string.decode("latin-1"),
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": not is_text,
    }
    if request.cookies:
        event["cookies"] = [f"{name}={value}" for name, value in request.cookies.items()]
    if request.args:
        event["queryStringParameters"] = {name: ",".join(request.args.getlist(name)) for name in request.args}
    if path_params:
        event["pathParameters"] = path_params
    if text_body is not None:
        event["body"] = text_body
    return event


def response_from_result(result: Any) -> Response:
    """Payload 2.0 response rules: a dict with statusCode is used as is; anything else becomes a 200 JSON body."""
    if not (isinstance(result, dict) and "statusCode" in result):
        return Response(json.dumps(result), status=200, mimetype="application/json")
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    response = Response(data, status=int(result["statusCode"]))
    response.headers.clear()
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = str(value)
    for cookie in result.get("cookies") or []:
        response.headers.add("Set-Cookie", cookie)
    if "Content-Type" not in response.headers:
        response.headers["Content-Type"] = "application/json"
    return response


# API Gateway HTTP API's quota: the request line and header values together at most 10 KB.
MAX_HEADER_BYTES = 10_240


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _error(status: int, message: str) -> Response:
    return Response(json.dumps({"error": message}), status=status, mimetype="application/json")


def _sent_bytes(raw: str) -> bytes:
    """The request target's bytes: werkzeug's server read the request line as latin-1, then handed it
    on through WSGI's encoding dance (its UTF-8 bytes as latin-1 code points); both undone."""
    try:
        return raw.encode("latin-1").decode("utf-8").encode("latin-1")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw.encode("latin-1", "replace")


def path_problem(environ: dict[str, Any]) -> str | None:
    """Why a request's path cannot name anything here: bytes that are not UTF-8 (overlong forms
    included), control characters (a NUL, ``%00``), or a ``%`` that starts no escape."""
    # The request line as sent (the server read it as latin-1): werkzeug's PATH_INFO has already put
    # U+FFFD where bytes were not UTF-8, so the checks read the raw path.
    raw = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO") or "").partition("?")[0]
    if _BAD_PERCENT.search(raw):
        return "Path has an invalid percent-encoding"
    try:
        path = unquote_to_bytes(_sent_bytes(raw)).decode("utf-8")  # strict: overlong forms and surrogates too
    except (UnicodeEncodeError, UnicodeDecodeError):
        return "Path is not valid UTF-8"
    if _CONTROL.search(path) or _CONTROL.search(str(environ.get("PATH_INFO", ""))):
        return "Path holds a control character"
    return None


class LocalGateway:
    def __init__(self, app: LocalApp, authority: LocalAuthority, log: Callable[[str], None] = print, hosts: Iterable[str] = LOOPBACK_HOSTS):
        self.app = app
        self.authority = authority
        self.log = log
        # The configured name (--host) too. Any other Host header is a page elsewhere whose name was
        # rebound to this address (DNS rebinding): it would read /_local/token.
        self.hosts = served_names(hosts)
        # Handlers share one process; their first import must not race.
        self._import_lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        started = time.perf_counter()
        response = self.handle(request)
        self._add_cors(request, response)
        self.log(f"{request.method} {request.path} -> {response.status_code} ({(time.perf_counter() - started) * 1000:.0f} ms)")
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        # Before anything is served: only the names this runner answers to, only paths that can name something.
        # The check every local server makes (local.hosts), here inside the gateway so that its
        # refusal is logged like any other answer.
        refused = refusal(request.environ, self.hosts)
        if refused is not None:
            return refused
        problem = path_problem(request.environ)
        if problem is not None:
            return _error(400, problem)
        if sum(len(name) + len(value) for name, value in request.headers.items()) + len(request.full_path) > MAX_HEADER_BYTES:
            return _error(431, "Request headers are too large")
        if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
            return Response(status=204)
        if request.path == "/_local/health":
            return Response(json.dumps({"ok": True, "routes": [route.route_key for route in self.app.routes]}), mimetype="application/json")
        if request.path == "/_local/token" and request.method == "POST":
            # The demo's sign-in: development tokens for anyone who can reach this local-only server.
            try:
                # Bounded as every body the API reads: depth, numbers, text (a JSON 400, never a 500).
                wanted = load_json(request.get_data(), "Token request") if request.is_json and request.get_data() else {}
            except BadRequest as refused_body:
                return _error(400, refused_body.message)
            if not isinstance(wanted, dict):
                return _error(400, "Token request must be a JSON object")
            user = str(wanted.get("user_id") or "demo-user")[:64]
            return Response(json.dumps({"token": self.authority.issue(user, staff=bool(wanted.get("staff")))}), mimetype="application/json")
        page = site.serve(request, request.host_url.rstrip("/"))
        if page is not None:
            return page
        found = self.app.find_route(request.method, request.path)
        if found is None:
            return _error(404, "Not Found")
        route, path_params = found
        claims = None
        if route.authorized:
            try:
                claims = self.authority.verify(request.headers.get("Authorization"))
            except TokenRejected as rejected:
                # As API Gateway answers: its fixed body and challenge; the reason only in our log.
                self.log(f"{request.method} {request.path}: token refused ({rejected.reason})")
                return Response(json.dumps(UNAUTHORIZED_BODY), status=401, headers=rejected.headers())
        event = build_event(request, route, path_params, claims)
        return self.invoke(self.app.functions[route.function], event)

    def invoke(self, function: LocalFunction, event: dict[str, Any]) -> Response:
        context = LambdaContext(function.logical_id, function.memory_mb, function.timeout_s, event["requestContext"]["requestId"])
        with self._import_lock:
            handler = function.lambda_handler()
        try:
            result = handler(event, context)
        except Exception as error:  # an unhandled exception in Lambda is a 500 from API Gateway
            self.log(f"{function.logical_id} raised {type(error).__name__}: {error}")
            return _error(500, "Internal Server Error")
        return response_from_result(result)

    def _add_cors(self, request: Request, response: Response) -> None:
        origin = request.headers.get("Origin")
        if not origin or ("*" not in self.app.cors_origins and origin not in self.app.cors_origins):
            return
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = ",".join(self.app.cors_methods)
            response.headers["Access-Control-Allow-Headers"] = ",".join(self.app.cors_headers)
            response.headers["Access-Control-Max-Age"] = "600"
        elif self.app.cors_expose_headers:
            # As the HTTP API does on an actual request from an allowed origin.
            response.headers["Access-Control-Expose-Headers"] = ",".join(self.app.cors_expose_headers)
