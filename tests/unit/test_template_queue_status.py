"""The template's queue status (docs/on-sales.md#the-queues-status): a route outside the JWT
authorizer with a throttle of its own, and, when a public key is given, a CloudFront distribution in
front of the HTTP API that keeps one answer per event (keyed by the path alone) and lets through
only URLs signed by the key group's key."""

from __future__ import annotations

from typing import Any

from local.functions import Resolver, load_app
from local.template import load_template

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
STATUS_PATH = "/api/events/{event_id}/queue/status/"


def route(function: str) -> dict[str, Any]:
    [event] = RESOURCES[function]["Properties"]["Events"].values()
    return dict(event["Properties"])


def test_the_status_route_is_outside_the_authorizer_with_a_throttle_of_its_own():
    status = route("GetEventQueueStatusFunction")
    assert (status["Method"], status["Path"]) == ("GET", STATUS_PATH)
    assert status["Auth"] == {"Authorizer": "NONE"}
    assert status["RouteSettings"]["ThrottlingRateLimit"] == {"Ref": "QueueStatusRateLimit"}
    assert status["RouteSettings"]["ThrottlingBurstLimit"] == {"Ref": "QueueStatusBurstLimit"}


def test_the_status_function_reads_the_state_copy_and_the_pass_key_only():
    policies = RESOURCES["GetEventQueueStatusFunction"]["Properties"]["Policies"]
    [statement] = policies[0]["Statement"]
    assert statement["Action"] == ["dynamodb:GetItem"] and statement["Resource"] == {"Fn::GetAtt": ["TicketsTable", "Arn"]}
    assert policies[1:] == [{"SSMParameterReadPolicy": {"ParameterName": {"Ref": "QueuePassKeyParameter"}}}]
    assert "Environment" not in RESOURCES["GetEventQueueStatusFunction"]["Properties"]  # signs nothing


CDN = [
    "QueueStatusSigningPublicKey",
    "QueueStatusKeyGroup",
    "QueueStatusCachePolicy",
    "QueueStatusOriginRequestPolicy",
    "QueueStatusResponseHeadersPolicy",
    "QueueStatusDistribution",
    "QueueStatusCdnUrl",
]


def test_the_distribution_exists_only_with_a_public_key():
    assert TEMPLATE["Conditions"]["QueueStatusCdnOn"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "QueueStatusPublicKeyPem"}, ""]}]}
    assert TEMPLATE["Parameters"]["QueueStatusPublicKeyPem"]["Default"] == ""
    assert all(RESOURCES[name]["Condition"] == "QueueStatusCdnOn" for name in CDN)
    assert RESOURCES["QueueStatusSigningPublicKey"]["Properties"]["PublicKeyConfig"]["EncodedKey"] == {"Ref": "QueueStatusPublicKeyPem"}
    assert RESOURCES["QueueStatusKeyGroup"]["Properties"]["KeyGroupConfig"]["Items"] == [{"Ref": "QueueStatusSigningPublicKey"}]


def test_the_cache_keys_on_the_path_alone_for_a_second_at_most():
    config = RESOURCES["QueueStatusCachePolicy"]["Properties"]["CachePolicyConfig"]
    assert (config["MinTTL"], config["DefaultTTL"], config["MaxTTL"]) == (0, 1, 1)
    key = config["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["QueryStringsConfig"] == {"QueryStringBehavior": "none"}
    assert key["HeadersConfig"] == {"HeaderBehavior": "none"}
    assert key["CookiesConfig"] == {"CookieBehavior": "none"}
    assert not key["EnableAcceptEncodingGzip"] and not key["EnableAcceptEncodingBrotli"]
    # The origin sees the buyer's pass, and nothing else of the request.
    forwarded = RESOURCES["QueueStatusOriginRequestPolicy"]["Properties"]["OriginRequestPolicyConfig"]
    assert forwarded["QueryStringsConfig"] == {"QueryStringBehavior": "whitelist", "QueryStrings": ["queue_pass"]}
    assert forwarded["HeadersConfig"] == {"HeaderBehavior": "none"} and forwarded["CookiesConfig"] == {"CookieBehavior": "none"}


def test_the_distribution_serves_the_status_path_from_the_http_api_and_only_signed_urls():
    config = RESOURCES["QueueStatusDistribution"]["Properties"]["DistributionConfig"]
    [origin] = config["Origins"]
    assert origin["DomainName"] == {"Fn::Sub": "${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    [status] = config["CacheBehaviors"]
    assert status["PathPattern"] == "/api/events/*/queue/status/"
    assert status["CachePolicyId"] == {"Ref": "QueueStatusCachePolicy"}
    assert status["OriginRequestPolicyId"] == {"Ref": "QueueStatusOriginRequestPolicy"}
    assert status["AllowedMethods"] == ["GET", "HEAD"]
    # Every behavior, the default too: nothing passes the edge without a URL we signed.
    for behavior in (status, config["DefaultCacheBehavior"]):
        assert behavior["TrustedKeyGroups"] == [{"Ref": "QueueStatusKeyGroup"}]
        assert behavior["ViewerProtocolPolicy"] == "https-only"
    # No error kept in the one cached answer (one buyer's 403, one origin timeout, must not be everyone's):
    # every code CloudFront caches by default, its own 502 and 504 included.
    assert {error["ErrorCode"]: error["ErrorCachingMinTTL"] for error in config["CustomErrorResponses"]} == {
        code: 0 for code in (400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504)
    }
    cors = RESOURCES["QueueStatusResponseHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]["CorsConfig"]
    assert cors["AccessControlAllowOrigins"]["Items"] == [{"Ref": "FrontendUrl"}] and not cors["AccessControlAllowCredentials"]


def test_the_signing_functions_learn_the_distribution_and_its_key_and_none_locally():
    for name in ("JoinEventQueueFunction", "GetEventQueuePlaceFunction"):
        properties = RESOURCES[name]["Properties"]
        variables = properties["Environment"]["Variables"]
        assert variables["QUEUE_STATUS_KEY_PAIR_ID"] == {"Fn::If": ["QueueStatusCdnOn", {"Ref": "QueueStatusSigningPublicKey"}, ""]}
        assert variables["QUEUE_STATUS_SIGNING_KEY_PARAMETER"] == {"Fn::Sub": "/${QueueStatusSigningKeyParameter}"}
        parameter = RESOURCES["QueueStatusCdnUrl"]["Properties"]["Name"]
        assert variables["QUEUE_STATUS_CDN_URL_PARAMETER"] == {"Fn::If": ["QueueStatusCdnOn", parameter, ""]}
        assert {"SSMParameterReadPolicy": {"ParameterName": {"Ref": "QueueStatusSigningKeyParameter"}}} in properties["Policies"]
        assert {"SSMParameterReadPolicy": {"ParameterName": {"Fn::Sub": "payments/${Stage}/queue-status-cdn-url"}}} in properties[
            "Policies"
        ]
        # The functions cannot name the distribution (the API invoking them is its origin): a cycle.
        assert "QueueStatusDistribution" not in str(properties)
    # Locally (no public key) nothing is signed; with one, the stack's parameter and key are named.
    local = Resolver(TEMPLATE, {}, {"QueueStatusSigningPublicKey": "K2JCJMDEHXQW5F"})
    variables = RESOURCES["JoinEventQueueFunction"]["Properties"]["Environment"]["Variables"]
    assert (local.resolve(variables["QUEUE_STATUS_CDN_URL_PARAMETER"]), local.resolve(variables["QUEUE_STATUS_KEY_PAIR_ID"])) == ("", "")
    deployed = Resolver(
        TEMPLATE,
        {"QueueStatusPublicKeyPem": "-----BEGIN PUBLIC KEY-----", "Stage": "prod"},
        {"QueueStatusSigningPublicKey": "K2JCJMDEHXQW5F"},
    )
    assert deployed.resolve(variables["QUEUE_STATUS_CDN_URL_PARAMETER"]) == "/payments/prod/queue-status-cdn-url"
    assert deployed.resolve(variables["QUEUE_STATUS_KEY_PAIR_ID"]) == "K2JCJMDEHXQW5F"


def test_the_local_runner_serves_the_status_route_without_a_token_and_signs_nothing():
    app = load_app(TEMPLATE, {}, {})
    found = app.find_route("GET", "/api/events/15/queue/status/")
    assert found is not None
    status, params = found
    assert (status.function, status.authorized, params) == ("GetEventQueueStatusFunction", False, {"event_id": "15"})
    # The buyer's own place stays its own route, behind the token.
    place = app.find_route("GET", "/api/events/15/queue/")
    assert place is not None and (place[0].function, place[0].authorized) == ("GetEventQueuePlaceFunction", True)
    join = app.functions["JoinEventQueueFunction"].environment
    assert (join["QUEUE_STATUS_CDN_URL_PARAMETER"], join["QUEUE_STATUS_KEY_PAIR_ID"]) == ("", "")
