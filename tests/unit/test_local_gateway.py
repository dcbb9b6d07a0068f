"""The local gateway reads the template and builds the events AWS would deliver."""

import json

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from local.functions import load_app
from local.gateway import build_event, response_from_result
from local.template import load_template, resources_of_type
from tests.support.lambdas import sample_event

TEMPLATE = load_template()
APP = load_app(TEMPLATE, {"FrontendUrl": "http://localhost:5173"}, {"TicketsTable": "t", "PaymentsTable": "p"})


def test_every_http_route_of_the_template_is_served():
    declared = {
        f"{event['Properties']['Method']} {event['Properties']['Path']}"
        for resource in resources_of_type(TEMPLATE, "AWS::Serverless::Function").values()
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "HttpApi"
    }
    assert {route.route_key for route in APP.routes} == declared


def test_path_parameters_are_matched_and_webhooks_stay_open():
    route, params = APP.find_route("GET", "/api/events/42/")
    assert (route.function, params) == ("GetEventFunction", {"event_id": "42"})
    webhook, _ = APP.find_route("POST", "/api/v1/payments/webhooks/stripe/")
    assert webhook.authorized is False
    assert APP.find_route("GET", "/api/payments/verify/") is None


def test_environment_and_schedules_come_from_the_template():
    function = APP.functions["CreateTicketCheckoutFunction"]
    assert function.environment["TICKETS_TABLE"] == "t"
    assert function.environment["FRONTEND_URL"] == "http://localhost:5173"
    assert function.environment["STRIPE_SECRET_KEY_PARAMETER"] == "/payments/dev/stripe-secret-key"
    assert sorted((s.function, s.seconds) for s in APP.schedules) == [
        ("AdmitEventQueuesFunction", 60),
        ("ReconcilePaymentsFunction", 3600),
        ("SweepReservationsFunction", 300),
    ]
    assert APP.cors_origins == ["http://localhost:5173"]


def test_the_event_has_the_shape_of_the_samples_in_events():
    builder = EnvironBuilder(
        method="POST",
        path="/api/payments/verify/",
        data=json.dumps({"ticket_id": 1}),
        headers={"Content-Type": "application/json", "Authorization": "Bearer x"},
    )
    route, params = APP.find_route("POST", "/api/payments/verify/")
    event = build_event(Request(builder.get_environ()), route, params, {"sub": "alice", "cognito:groups": ["staff", "ops"]})
    sample = sample_event("verify_ticket_payment")
    assert set(sample) <= set(event) | {"pathParameters"}
    assert set(sample["requestContext"]) <= set(event["requestContext"])
    assert event["routeKey"] == "POST /api/payments/verify/"
    assert event["requestContext"]["authorizer"]["jwt"]["claims"] == {"sub": "alice", "cognito:groups": "[staff ops]"}
    assert (event["body"], event["isBase64Encoded"]) == ('{"ticket_id": 1}', False)
    assert event["headers"]["content-type"] == "application/json"


def test_binary_bodies_arrive_base64_encoded():
    builder = EnvironBuilder(
        method="POST", path="/api/v1/payments/webhooks/stripe/", data=b"\xff\x00", headers={"Content-Type": "application/octet-stream"}
    )
    route, params = APP.find_route("POST", "/api/v1/payments/webhooks/stripe/")
    event = build_event(Request(builder.get_environ()), route, params, None)
    assert (event["body"], event["isBase64Encoded"]) == ("/wA=", True)
    assert "authorizer" not in event["requestContext"]


def test_a_plain_dict_result_becomes_a_json_200():
    response = response_from_result({"released": 1})
    assert (response.status_code, response.get_json()) == (200, {"released": 1})
    explicit = response_from_result({"statusCode": 404, "body": '{"error": "x"}', "headers": {"Content-Type": "application/json"}})
    assert (explicit.status_code, explicit.get_json()) == (404, {"error": "x"})


# A refused token is answered as API Gateway's JWT authorizer answers it (issue 25, item 4) ----------
def _gateway_answer(authorization):
    from cryptography.hazmat.primitives.asymmetric import rsa

    from local.gateway import LocalGateway
    from local.jwt_keys import LocalAuthority

    authority = LocalAuthority(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    logged = []
    gateway = LocalGateway(APP, authority, log=logged.append)
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization(authority) if callable(authorization) else authorization
    builder = EnvironBuilder(method="POST", path="/api/events/", data="{}", headers=headers)
    return gateway.handle(Request(builder.get_environ())), logged


def _challenge(description):
    return f'Bearer scope="" error="invalid_token" error_description="{description}"'


@pytest.mark.parametrize(
    ("authorization", "description", "reason"),
    [
        (None, "the token is missing", "Missing Authorization header"),
        ("Bearer not-a-jwt", "the token could not be validated", "Token is invalid"),
        ("Basic dXNlcjpwYXNz", "the token could not be validated", "Token is invalid"),
        (lambda authority: f"Bearer {authority.issue('mallory', lifetime_s=-120)}", "the token has expired", "Token has expired"),
        (
            lambda authority: f"Bearer {type(authority)(authority.private_key, audience='another-api').issue('mallory')}",
            "the token does not have a valid audience",
            "Token audience is not accepted",
        ),
        (
            lambda authority: f"Bearer {type(authority)(authority.private_key, issuer='https://evil.example').issue('mallory')}",
            "the token does not have a valid issuer",
            "Token issuer is not accepted",
        ),
    ],
)
def test_a_refused_token_gets_api_gateways_401_and_the_reason_goes_to_the_log(authorization, description, reason):
    response, logged = _gateway_answer(authorization)
    assert (response.status_code, response.get_json()) == (401, {"message": "Unauthorized"})
    assert response.headers["www-authenticate"] == _challenge(description)
    assert response.headers["Content-Type"] == "application/json"
    assert any(reason in line for line in logged)
    assert reason not in response.get_data(as_text=True)


# Only the hosts the runner serves; every malformed path a JSON 4xx (issue 25, item 3) ---------------
@pytest.fixture(scope="module")
def served():
    """The gateway behind werkzeug's own server, as ``python -m local`` runs it, on a free port."""
    import threading

    from cryptography.hazmat.primitives.asymmetric import rsa
    from werkzeug.serving import make_server

    from local.gateway import LocalGateway
    from local.jwt_keys import LocalAuthority
    from local.stack import ApiRequestHandler

    authority = LocalAuthority(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    gateway = LocalGateway(APP, authority, log=lambda line: None, hosts=["payments.test"])
    server = make_server("127.0.0.1", 0, gateway, threaded=True, request_handler=ApiRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port
    server.shutdown()


def raw(port, request_line: bytes, host: bytes | None = b"127.0.0.1") -> tuple[int, dict[str, str], bytes]:
    import socket

    head = request_line + b"\r\n" + (b"Host: " + host + b"\r\n" if host is not None else b"") + b"Connection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    status_head, _, body = received.partition(b"\r\n\r\n")
    lines = status_head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize(
    "host",
    [b"127.0.0.1", b"127.0.0.1:3000", b"localhost", b"LOCALHOST:3000", b"[::1]", b"[::1]:3000", b"payments.test:80"],
)
def test_the_names_it_serves_are_answered(served, host):
    status, _, body = raw(served, b"GET /_local/health HTTP/1.1", host)
    assert (status, json.loads(body)["ok"]) == (200, True)


@pytest.mark.parametrize(
    "host",
    [
        b"evil.example",
        b"evil.example:3000",
        b"127.0.0.1.evil.example",
        b"localhost.evil.example",
        b"localhost.",
        b"127.0.0.2",
        b"0.0.0.0",
        b"[::2]",
        b"127.0.0.1:99999",
        b"127.0.0.1:x",
        b"local host",
        b"",
        None,
    ],
)
@pytest.mark.parametrize("path", [b"/_local/token", b"/_local/health", b"/demo/", b"/openapi.json", b"/docs/", b"/api/events/"])
def test_a_host_it_does_not_serve_gets_a_json_4xx_and_nothing_else(served, host, path):
    # DNS rebinding: a page at evil.example, its name now pointing at 127.0.0.1, asking for a staff token.
    method = b"POST" if path == b"/_local/token" else b"GET"
    status, headers, body = raw(served, method + b" " + path + b" HTTP/1.1", host)
    assert 400 <= status < 500
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"error": "This server does not serve that host"}


@pytest.mark.parametrize(
    ("path", "error"),
    [
        (b"/demo/%00", "Path holds a control character"),
        (b"/demo/index.html%00.png", "Path holds a control character"),
        (b"/demo/\x00", None),  # a raw NUL in the request line: refused by the server before the gateway
        (b"/api/events/1%00/", "Path holds a control character"),
        (b"/docs/static/%0a", "Path holds a control character"),
        (b"/demo/%zz", "Path has an invalid percent-encoding"),
        (b"/api/events/%4/", "Path has an invalid percent-encoding"),
        (b"/demo/%", "Path has an invalid percent-encoding"),
        (b"/demo/%ff", "Path is not valid UTF-8"),
        (b"/api/events/%ff/", "Path is not valid UTF-8"),
        (b"/demo/\xff.js", "Path is not valid UTF-8"),
        (b"/demo/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd", "Path is not valid UTF-8"),  # overlong UTF-8 for "."
        (b"/demo/%ed%a0%80", "Path is not valid UTF-8"),  # a surrogate
        (b"/demo/" + b"a" * 12_000 + b".js", None),
        (b"/docs/static/" + b"a" * 5000 + b".js", None),
    ],
)
def test_every_malformed_path_is_a_json_4xx(served, path, error):
    status, headers, body = raw(served, b"GET " + path + b" HTTP/1.1")
    assert 400 <= status < 500, (status, body[:200])
    assert headers["content-type"] == "application/json"
    answer = json.loads(body)
    assert set(answer) == {"error"}
    if error is not None:
        assert answer == {"error": error}


@pytest.mark.parametrize("path", [b"/demo/", b"/demo/caf%C3%A9", b"/openapi.yaml", b"/docs/"])
def test_well_formed_paths_are_still_served(served, path):
    status, _, _ = raw(served, b"GET " + path + b" HTTP/1.1")
    assert status == 200
