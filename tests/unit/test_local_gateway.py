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
