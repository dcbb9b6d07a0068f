"""``sam local``: the functions verify bearer tokens themselves only where SAM's emulation runs them,
and the env-vars file covers every function of the template with variables SAM will pass."""

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from local.functions import load_app
from local.jwt_keys import AUDIENCE, ISSUER, LocalAuthority
from local.sam_local import UndeclaredVariable, authorizer_variable, env_vars
from local.template import load_template, resources_of_type
from payments.auth import caller_from_event
from payments.errors import AuthorizerRefused, Unauthorized
from tests.support.lambdas import api_event, invoke

AUTHORITY = LocalAuthority(rsa.generate_private_key(public_exponent=65537, key_size=2048))
TEMPLATE = load_template()
FUNCTIONS = resources_of_type(TEMPLATE, "AWS::Serverless::Function")
TABLES = {name: f"local-{name}" for name in resources_of_type(TEMPLATE, "AWS::DynamoDB::Table")}


def bare_event(token: str | None) -> dict[str, Any]:
    """What SAM's local API hands a function: the header, no authorizer claims."""
    return {"headers": {"authorization": f"Bearer {token}"} if token else {}, "requestContext": {"http": {"method": "GET"}}}


@pytest.fixture
def sam_local(monkeypatch):
    monkeypatch.setenv("AWS_SAM_LOCAL", "true")
    monkeypatch.setenv("SAM_LOCAL_AUTHORIZER", authorizer_variable(AUTHORITY))


def test_under_sam_local_a_valid_token_becomes_the_claims_the_cloud_authorizer_would_pass(sam_local):
    caller = caller_from_event(bare_event(AUTHORITY.issue("alice", staff=True)))
    assert caller.user_id == "alice"
    assert caller.groups == {"staff"}  # read from "[staff]", the flattened form HTTP API passes
    assert caller_from_event(bare_event(AUTHORITY.issue("bob"))).groups == frozenset()


@pytest.mark.parametrize("value", [None, "", "false", "TRUE", "True", "1", "yes", "true "])
def test_the_path_stays_shut_unless_sam_sets_aws_sam_local_to_exactly_true(monkeypatch, value):
    monkeypatch.setenv("SAM_LOCAL_AUTHORIZER", authorizer_variable(AUTHORITY))
    if value is None:
        monkeypatch.delenv("AWS_SAM_LOCAL", raising=False)
    else:
        monkeypatch.setenv("AWS_SAM_LOCAL", value)
    with pytest.raises(Unauthorized):
        caller_from_event(bare_event(AUTHORITY.issue("alice", staff=True)))


def test_the_path_stays_shut_without_the_local_key_as_the_template_deploys_it(monkeypatch):
    monkeypatch.setenv("AWS_SAM_LOCAL", "true")
    monkeypatch.setenv("SAM_LOCAL_AUTHORIZER", "")
    with pytest.raises(Unauthorized):
        caller_from_event(bare_event(AUTHORITY.issue("alice")))


def test_the_template_never_opens_the_path():
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["SAM_LOCAL_AUTHORIZER"] == ""
    for name, function in FUNCTIONS.items():
        own = function["Properties"].get("Environment", {}).get("Variables", {})
        assert "AWS_SAM_LOCAL" not in own and "SAM_LOCAL_AUTHORIZER" not in own, name
    assert "AWS_SAM_LOCAL" not in variables


def forged(**changes) -> str:
    now = int(time.time())
    claims = {"sub": "mallory", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600, "cognito:groups": ["staff"]}
    claims.update(changes)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, AUTHORITY.private_key, algorithm="RS256")


def hs256_with_the_public_key() -> str:
    """The classic confusion: a token MACed with the verifier's public key, hoping it is taken as a secret."""
    now = int(time.time())
    claims = {"sub": "mallory", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600}
    encode = lambda part: base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()  # noqa: E731
    signing_input = f"{encode({'alg': 'HS256', 'typ': 'JWT'})}.{encode(claims)}"
    mac = hmac.new(AUTHORITY.public_key_pem().encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


# Each token is made when its test runs, never when the tests are collected: a token made at collection
# expires while the suite before it runs (a 10-minute expiry failed a run that reached this file at 11).
@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda: None, "Missing Authorization header"),
        (
            lambda: LocalAuthority(rsa.generate_private_key(public_exponent=65537, key_size=2048)).issue("mallory", staff=True),
            "Token is invalid",
        ),
        (lambda: forged(exp=int(time.time()) - 10), "Token has expired"),
        (lambda: forged(aud="someone-else"), "Token audience is not accepted"),
        (lambda: forged(iss="http://elsewhere"), "Token issuer is not accepted"),
        (lambda: forged(sub=None), "Token is invalid"),
        # The public key used as an HMAC secret, and no signature at all.
        (hs256_with_the_public_key, "Token is invalid"),
        (lambda: forged().rsplit(".", 1)[0] + ".", "Token is invalid"),
    ],
    ids=["missing", "foreign-key", "expired", "audience", "issuer", "no-sub", "hs256-public-key", "unsigned"],
)
def test_under_sam_local_a_bad_token_is_a_401_with_the_reason(sam_local, make_token: Callable[[], str | None], reason):
    with pytest.raises(AuthorizerRefused) as refused:
        caller_from_event(bare_event(make_token()))
    assert refused.value.message == reason  # for the log; the answer is API Gateway's (below)


def test_the_cloud_authorizers_claims_win_over_any_header(sam_local):
    event = bare_event(AUTHORITY.issue("alice", staff=True))
    event["requestContext"]["authorizer"] = {"jwt": {"claims": {"sub": "bob", "cognito:groups": "[]"}}}
    caller = caller_from_event(event)
    assert (caller.user_id, caller.groups) == ("bob", frozenset())


def test_a_function_under_sam_local_answers_a_signed_caller_and_refuses_the_rest(dynamodb, sam_local):
    event = api_event("list_my_tickets", user=None, headers={"authorization": f"Bearer {AUTHORITY.issue('alice')}"})
    assert "authorizer" not in event["requestContext"]
    assert invoke("list_my_tickets", event).status == 200
    event["headers"]["authorization"] = "Bearer " + forged(aud="someone-else")
    refused = invoke("list_my_tickets", event)
    # Exactly what API Gateway's JWT authorizer answers (its documented example is this very case).
    assert (refused.status, refused.body) == (401, {"message": "Unauthorized"})
    assert (
        refused.headers["www-authenticate"]
        == 'Bearer scope="" error="invalid_token" error_description="the token does not have a valid audience"'
    )
    del event["headers"]["authorization"]
    refused = invoke("list_my_tickets", event)
    assert (refused.status, refused.body) == (401, {"message": "Unauthorized"})
    assert refused.headers["www-authenticate"] == 'Bearer scope="" error="invalid_token" error_description="the token is missing"'


def test_as_at_api_gateway_the_token_may_come_without_the_bearer_prefix(sam_local):
    assert caller_from_event({"headers": {"authorization": AUTHORITY.issue("alice")}}).user_id == "alice"


# The env-vars file ---------------------------------------------------------------------------------


def overrides() -> dict[str, str]:
    return {
        "DYNAMODB_ENDPOINT": "http://172.17.0.1:12113",
        "STRIPE_API_BASE": "http://172.17.0.1:12111",
        "STRIPE_SECRET_KEY": "sk_test_local",
        "STRIPE_SECRET_KEY_PARAMETER": "",
        "SAM_LOCAL_AUTHORIZER": authorizer_variable(AUTHORITY),
    }


def test_the_env_vars_file_has_every_function_of_the_template_and_every_variable_it_declares():
    app = load_app(TEMPLATE, {}, TABLES)
    document = env_vars(app, overrides())
    assert set(document) == set(FUNCTIONS)
    declared = set(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])
    for name, variables in document.items():
        assert declared <= set(variables), name
        assert variables["TICKETS_TABLE"] == "local-TicketsTable"
        assert variables["DYNAMODB_ENDPOINT"] == "http://172.17.0.1:12113"
        assert json.loads(variables["SAM_LOCAL_AUTHORIZER"])["audience"] == AUDIENCE


def test_a_local_value_for_a_variable_the_template_does_not_declare_is_refused():
    app = load_app(TEMPLATE, {}, TABLES)
    with pytest.raises(UndeclaredVariable, match="LOCAL_ONLY_SETTING"):
        env_vars(app, {**overrides(), "LOCAL_ONLY_SETTING": "x"})


def test_the_functions_settings_read_the_file_and_not_ssm(monkeypatch):
    from payments.settings import get_settings

    for name, value in env_vars(load_app(TEMPLATE, {}, TABLES), overrides())["StripeCreatePaymentIntentFunction"].items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        settings = get_settings()
        assert settings.dynamodb_endpoint == "http://172.17.0.1:12113"
        assert settings.stripe_secret_key is not None and settings.stripe_secret_key.get_secret_value() == "sk_test_local"
        assert settings.stripe_secret_key_parameter is None  # empty is unset: no SSM
        assert settings.paypal_client_id is None  # declared empty in the template, and not given
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
