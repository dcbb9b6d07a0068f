"""Attacks on the queue's status route (``GET /api/events/{event_id}/queue/status/?queue_pass=``)
and on the CloudFront signed URLs that open it (docs/on-sales.md, "The queue's status").

Written from the contract and the code alone: the route is outside the JWT authorizer, so the
queue pass is its only credential at the origin, and a signed URL its credential at the edge; the
answer is one public copy per event. Each case asserts what the contract requires. The attack found
two breaks, both fixed since: a signed URL's custom policy (``.../status/?*``) also opened every path
below the status (now a canned policy, the URL itself), and CloudFront's own 502 and 504 were kept
10 s as every buyer's copy (now kept 0 s, as every other error)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.test import Client

from local.functions import load_app
from local.gateway import LocalGateway
from local.jwt_keys import LocalAuthority
from local.template import load_template
from payments.domain.admission import QueuePass, sign_pass
from payments.status_urls import StatusUrls
from tests.conftest import TABLES
from tests.support.flows import STAFF, create_event
from tests.support.lambdas import ApiResult, api_event, call, invoke

PASS_KEY = b"queue-pass-key-local-only"  # tests/conftest.py's QUEUE_PASS_KEY
FUNCTION = "get_event_queue_status"
STATUS_FIELDS = {"event_id", "admitted_to", "sold_out", "seat_bound", "admission_rate_per_second", "updated_at", "poll_after_ms"}
CDN = "https://d111111abcdef8.cloudfront.net"


# helpers -----------------------------------------------------------------------------------------
def queued_event() -> int:
    event_id = create_event()
    enabled = call("enable_event_queue", path_params={"event_id": str(event_id)}, user="user-staff", groups=STAFF)
    assert enabled.status == 200, enabled.body
    return event_id


def join(event_id: int, user: str = "user-alice") -> dict[str, Any]:
    joined = call("join_event_queue", path_params={"event_id": str(event_id)}, user=user)
    assert joined.status == 200, joined.body
    return dict(joined.body)


def status(event_id: str | int, query: Any = None, *, drop_query: bool = False) -> ApiResult:
    event = api_event(FUNCTION, path_params={"event_id": str(event_id)})
    if drop_query:
        event.pop("queryStringParameters", None)
        event["rawQueryString"] = ""
    else:
        event["queryStringParameters"] = query
    return invoke(FUNCTION, event)


def forged(event_id: int, *, key: bytes = PASS_KEY, owner: str = "user-mallory", place: int = 1, expires_ms: int | None = None) -> str:
    expires = expires_ms if expires_ms is not None else int(time.time() * 1000) + 600_000
    return sign_pass(key, QueuePass(event_id, owner, place, expires))


@pytest.fixture
def dynamo_calls(dynamodb: object) -> Iterator[list[str]]:
    """Every DynamoDB request the layer's client makes from here on (its operation names)."""
    from payments import dynamodb as layer_dynamodb

    calls: list[str] = []

    def count(event_name: str, **_: Any) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    client = layer_dynamodb.get_client()
    client.meta.events.register("before-call.dynamodb", count)
    yield calls
    client.meta.events.unregister("before-call.dynamodb", count)


def table_items(client: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for table in TABLES.values():
        items.extend(client.scan(TableName=table)["Items"])
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


def not_public(headers: dict[str, str]) -> bool:
    cache = {name.lower(): value for name, value in headers.items()}.get("cache-control", "")
    return "public" not in cache and "s-maxage" not in cache


# the origin: the pass is the credential ------------------------------------------------------------
def test_a_pass_of_the_event_opens_one_public_answer_the_same_for_every_buyer(dynamodb: Any) -> None:
    event_id = queued_event()
    alice, bob = join(event_id, "user-alice"), join(event_id, "user-bob")
    first = status(event_id, {"queue_pass": alice["queue_pass"]})
    second = status(event_id, {"queue_pass": bob["queue_pass"]})
    assert first.status == second.status == 200, (first.body, second.body)
    # The shared copy carries nothing of the buyer who happened to fill it.
    assert set(first.body) == STATUS_FIELDS
    assert first.body == second.body
    assert first.body["event_id"] == event_id and first.body["poll_after_ms"] == 2000
    assert first.headers["Cache-Control"] == "public, max-age=1, s-maxage=1"
    assert "user-alice" not in json.dumps(first.body) and "Set-Cookie" not in first.headers


def test_the_join_answer_points_at_this_events_status_route_with_its_own_pass(dynamodb: Any) -> None:
    event_id = queued_event()
    joined = join(event_id)
    url = urlsplit(joined["queue_status_url"])
    assert url.scheme == "https"
    assert url.path == f"/api/events/{event_id}/queue/status/"
    assert parse_qs(url.query) == {"queue_pass": [joined["queue_pass"]]}
    # ... and that URL's pass opens it.
    assert status(event_id, {"queue_pass": joined["queue_pass"]}).status == 200


def test_a_valid_status_request_costs_one_read_and_writes_nothing(dynamodb: Any, dynamo_calls: list[str]) -> None:
    event_id = queued_event()
    joined = join(event_id)
    before = table_items(dynamodb)
    dynamo_calls.clear()
    assert status(event_id, {"queue_pass": joined["queue_pass"]}).status == 200
    assert dynamo_calls == ["GetItem"]
    assert table_items(dynamodb) == before


def refused_cases(other_event: int, event_id: int) -> dict[str, str]:
    now_ms = int(time.time() * 1000)
    genuine = forged(event_id)
    payload, _, signature = genuine.partition(".")
    other_payload = forged(other_event).partition(".")[0]
    empty, stringly = _b64(b"{}"), _b64(json.dumps({"e": "x"}).encode())
    return {
        "another event's pass": forged(other_event),
        "expired pass": forged(event_id, expires_ms=now_ms - 1),
        "pass expiring this millisecond": forged(event_id, expires_ms=now_ms),
        "pass signed with another key": forged(event_id, key=b"some-other-key"),
        "pass with another event's payload and this signature": f"{other_payload}.{signature}",
        "pass whose signature is truncated": f"{payload}.{signature[:-4]}",
        "pass whose signature is empty-ish": f"{payload}.AAAA",
        "a payload signed with the key but not a pass": f"{empty}.{_hmac(empty)}",
        "a pass with the event as a string": f"{stringly}.{_hmac(stringly)}",
    }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hmac(payload: str) -> str:
    import hashlib
    import hmac

    return _b64(hmac.new(PASS_KEY, payload.encode(), hashlib.sha256).digest())


@pytest.mark.parametrize(
    "case",
    [
        "another event's pass",
        "expired pass",
        "pass expiring this millisecond",
        "pass signed with another key",
        "pass with another event's payload and this signature",
        "pass whose signature is truncated",
        "pass whose signature is empty-ish",
        "a payload signed with the key but not a pass",
        "a pass with the event as a string",
    ],
)
def test_a_pass_that_is_not_a_live_pass_of_this_event_is_a_403_before_any_read(dynamodb: Any, dynamo_calls: list[str], case: str) -> None:
    event_id = queued_event()
    other = queued_event()
    join(other)  # the other event has a live queue: its passes are real ones
    token = refused_cases(other, event_id)[case]
    before = table_items(dynamodb)
    dynamo_calls.clear()
    refused = status(event_id, {"queue_pass": token})
    assert refused.status == 403, refused.body
    assert refused.body["error"].startswith("queue_pass: ")
    assert dynamo_calls == [], f"{case}: DynamoDB was asked before the pass was refused"
    assert table_items(dynamodb) == before
    # An error must never become the one copy every buyer gets.
    assert not_public(refused.headers)


@pytest.mark.parametrize("queued", [False, True])
def test_a_genuine_pass_of_an_event_without_a_queue_is_a_404_never_kept_and_only_reads(
    dynamodb: Any, dynamo_calls: list[str], queued: bool
) -> None:
    # Only the key's holder can make these (an event whose queue is gone, or an id nobody has):
    # the answer is still a clean 404 from one read, never a 500, and never a copy for everyone.
    event_id = create_event() if not queued else 987_654_321
    dynamo_calls.clear()
    answer = status(event_id, {"queue_pass": forged(event_id)})
    assert answer.status == 404, answer.body
    # A copy, then the state itself (the fallback for queues older than their copies): reads only.
    assert dynamo_calls in (["GetItem"], ["GetItem", "GetItem"])
    assert not_public(answer.headers)


def test_a_real_pass_of_another_event_is_refused(dynamodb: Any, dynamo_calls: list[str]) -> None:
    first, second = queued_event(), queued_event()
    passes = join(first)["queue_pass"], join(second)["queue_pass"]
    dynamo_calls.clear()
    assert status(second, {"queue_pass": passes[0]}).status == 403
    assert status(first, {"queue_pass": passes[1]}).status == 403
    assert dynamo_calls == []


def test_no_pass_at_all_is_refused_naming_it_and_reads_nothing(dynamodb: Any, dynamo_calls: list[str]) -> None:
    event_id = queued_event()
    dynamo_calls.clear()
    for answer in (status(event_id, drop_query=True), status(event_id, {})):
        assert answer.status in (400, 403), answer.body
        assert answer.body["error"].startswith("queue_pass"), answer.body
        assert not_public(answer.headers)
    assert dynamo_calls == []


MALFORMED: dict[str, Any] = {
    "empty": "",
    "blank": "   ",
    "no dot": "abcdef",
    "a JWT (another route's token)": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
    "a Stripe session id": "cs_test_a1b2c3",
    "non-ASCII letters": "ÿé.ÿé",
    "fullwidth lookalikes": "ＡＢ.ＣＤ",
    "a lone surrogate": "\ud800.\udfff",
    "a NUL": "abc\x00.def",
    "1 MB": "A" * 500_000 + "." + "B" * 500_000,
    "repeated, comma-joined (API Gateway v2)": None,  # filled in with two real passes
    "an array": ["abc.def", "ghi.jkl"],
    "a number": 15,
    "an object": {"e": 1},
    "null": None,
    "padding and plus signs": "ab+/==.cd+/==",
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_passes_are_a_4xx_naming_the_field_never_a_500_and_read_nothing(
    dynamodb: Any, dynamo_calls: list[str], case: str
) -> None:
    event_id = queued_event()
    value = MALFORMED[case]
    if case.startswith("repeated"):
        one, two = join(event_id, "user-alice")["queue_pass"], join(event_id, "user-bob")["queue_pass"]
        value = f"{one},{two}"
    dynamo_calls.clear()
    answer = status(event_id, {"queue_pass": value})
    assert answer.status in (400, 403), (case, answer.status, answer.body)
    assert answer.body["error"].startswith("queue_pass"), answer.body
    assert dynamo_calls == []
    assert not_public(answer.headers)
    assert len(answer.body["error"]) < 300  # the input is not echoed back


def test_unknown_query_parameters_are_refused_naming_them(dynamodb: Any) -> None:
    event_id = queued_event()
    token = join(event_id)["queue_pass"]
    answer = status(event_id, {"queue_pass": token, "Policy": "x"})
    assert answer.status == 400 and answer.body["error"].startswith("Policy"), answer.body


@pytest.mark.parametrize(
    "raw_id",
    ["-1", "0", "-0", "1e3", "1.0", "abc", "9" * 19, "9" * 200, "١٥", "¹", " 1", "1 ", "0x1", "+1", "", "\ud800", "1\x00"],
)
def test_bad_event_ids_are_a_400_naming_event_id_before_any_read(dynamodb: Any, dynamo_calls: list[str], raw_id: str) -> None:
    event_id = queued_event()
    token = join(event_id)["queue_pass"]
    dynamo_calls.clear()
    answer = status(raw_id, {"queue_pass": token})
    assert answer.status == 400, (raw_id, answer.body)
    assert answer.body["error"].startswith("event_id"), answer.body
    assert dynamo_calls == []


def test_an_event_id_with_leading_zeros_answers_the_canonical_event(dynamodb: Any) -> None:
    event_id = queued_event()
    token = join(event_id)["queue_pass"]
    answer = status(f"000{event_id}", {"queue_pass": token})
    assert answer.status in (200, 400), answer.body
    if answer.status == 200:
        assert answer.body["event_id"] == event_id


def test_the_signature_is_compared_in_constant_time(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac as hmac_module

    compared: list[tuple[bytes, bytes]] = []
    real = hmac_module.compare_digest

    def spy(left: bytes, right: bytes) -> bool:
        compared.append((left, right))
        return real(left, right)

    monkeypatch.setattr("payments.domain.admission.hmac.compare_digest", spy)
    event_id = queued_event()
    assert status(event_id, {"queue_pass": forged(event_id, key=b"other")}).status == 403
    assert compared, "the pass's signature was not compared with hmac.compare_digest"


def test_neither_the_pass_nor_the_owner_reaches_a_log_line(dynamodb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    event_id = queued_event()
    token = join(event_id, "user-secret-owner")["queue_pass"]
    capsys.readouterr()
    status(event_id, {"queue_pass": token})
    status(event_id + 1, {"queue_pass": token})
    status(event_id, {"queue_pass": token[:-3] + "AAA"})
    logged = capsys.readouterr()
    signature = token.partition(".")[2]
    for text in (logged.out, logged.err):
        assert signature not in text
        assert "user-secret-owner" not in text


# the local runner serves the route as the template declares it -------------------------------------
LOCAL_AUTHORITY = LocalAuthority(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture
def local_api(dynamodb: Any) -> Client:
    template = load_template()
    app = load_app(template, {"FrontendUrl": "http://localhost:5173"}, dict(TABLES))
    return Client(LocalGateway(app, LOCAL_AUTHORITY, log=lambda _: None))


def test_the_local_runners_join_answers_a_status_url_that_the_local_runner_serves(local_api: Client) -> None:
    event_id = queued_event()
    token = LOCAL_AUTHORITY.issue("user-carol")
    joined = local_api.post(f"/api/events/{event_id}/queue/", headers={"Authorization": f"Bearer {token}"})
    assert joined.status_code == 200, joined.get_data(as_text=True)
    url = urlsplit(joined.get_json()["queue_status_url"])
    assert (url.scheme, url.netloc) == ("http", "localhost")
    followed = local_api.get(f"{url.path}?{url.query}")
    assert followed.status_code == 200, followed.get_data(as_text=True)
    assert followed.get_json()["event_id"] == event_id
    # CORS for the configured frontend, as the HTTP API's configuration gives it.
    cors = local_api.get(f"{url.path}?{url.query}", headers={"Origin": "http://localhost:5173"})
    assert cors.headers.get("Access-Control-Allow-Origin") == "http://localhost:5173"
    assert (
        local_api.get(f"{url.path}?{url.query}", headers={"Origin": "https://evil.example"}).headers.get("Access-Control-Allow-Origin")
        is None
    )


def test_the_local_runner_needs_no_bearer_token_for_the_status_and_still_checks_the_pass(local_api: Client) -> None:
    event_id = queued_event()
    token = join(event_id)["queue_pass"]
    path = f"/api/events/{event_id}/queue/status/"
    opened = local_api.get(path, query_string={"queue_pass": token})
    assert opened.status_code == 200, opened.get_data(as_text=True)
    assert opened.headers["Cache-Control"] == "public, max-age=1, s-maxage=1"
    assert set(opened.get_json()) == STATUS_FIELDS
    # A bearer token (any, even a bad one) neither opens nor closes it: the pass decides.
    assert local_api.get(path, headers={"Authorization": "Bearer nonsense"}).status_code == 403
    assert local_api.get(path, query_string={"queue_pass": token}, headers={"Authorization": "Bearer nonsense"}).status_code == 200
    # Repeated parameters arrive comma-joined, as API Gateway v2 joins them.
    repeated = local_api.get(f"{path}?queue_pass={token}&queue_pass={token}")
    assert repeated.status_code == 400 and repeated.get_json()["error"].startswith("queue_pass")
    # The place route next to it stays behind the authorizer.
    assert local_api.get(f"/api/events/{event_id}/queue/").status_code == 401


def test_the_local_runner_refuses_a_huge_query_before_the_function(local_api: Client) -> None:
    event_id = queued_event()
    answer = local_api.get(f"/api/events/{event_id}/queue/status/", query_string={"queue_pass": "A" * 1_000_000})
    assert answer.status_code in (400, 414, 431)
    assert answer.get_json()["error"]


# the signed URLs (payments.status_urls) ------------------------------------------------------------
def cloudfront_matches(resource: str, url: str) -> bool:
    """A canned policy's Resource (the URLs we sign) as CloudFront compares it with the requested
    URL, its signing parameters removed: the URL itself, nothing else (no wildcards; a custom
    policy's ``*`` and ``?`` would match any characters, ``/x/../../16/...`` included)."""
    return resource == url


def _cf_b64decode(text: str) -> bytes:
    return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"))


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def signed(key: rsa.RSAPrivateKey, event_id: int, queue_pass: str, expires_ms: int) -> tuple[str, dict[str, Any], dict[str, str]]:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    urls = StatusUrls(lambda: CDN, "K2JCJMDEHXQW5F", lambda: pem)
    url = urls.url(event_id, queue_pass, expires_ms, "https://api.example.com")
    query = {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
    policy = json.loads(canned_policy(url, query))
    return url, policy, query


def canned_policy(url: str, query: dict[str, str]) -> bytes:
    """The policy CloudFront rebuilds for a canned-policy URL (no ``Policy`` parameter): the URL
    without its signing parameters as the resource, ``Expires`` as the time, in its documented form."""
    assert "Policy" not in query, "a canned policy: the URL names no other resource than itself"
    signing = ("Expires", "Signature", "Key-Pair-Id", "Hash-Algorithm")
    kept = [part for part in urlsplit(url).query.split("&") if part.partition("=")[0] not in signing]
    resource = url.split("?", 1)[0] + ("?" + "&".join(kept) if kept else "")
    expires = int(query["Expires"])
    return f'{{"Statement":[{{"Resource":"{resource}","Condition":{{"DateLessThan":{{"AWS:EpochTime":{expires}}}}}}}]}}'.encode()


def test_a_signed_url_is_signed_with_sha256_as_it_says_and_names_the_key(signing_key: rsa.RSAPrivateKey) -> None:
    expires_ms = int(time.time() * 1000) + 900_000
    url, _, query = signed(signing_key, 15, "abc.def", expires_ms)
    assert url.startswith(f"{CDN}/api/events/15/queue/status/?queue_pass=abc.def&")
    assert query["Hash-Algorithm"] == "SHA256" and query["Key-Pair-Id"] == "K2JCJMDEHXQW5F"
    # Each parameter once: a second Hash-Algorithm (a botocore that adds its own) would make it ambiguous.
    names = [part.partition("=")[0] for part in urlsplit(url).query.split("&")]
    assert sorted(names) == sorted({"queue_pass", "Expires", "Signature", "Key-Pair-Id", "Hash-Algorithm"})
    # CloudFront verifies the RSA PKCS#1 v1.5 signature over the canned policy it rebuilds from the URL.
    policy_text = canned_policy(url, query)
    signing_key.public_key().verify(_cf_b64decode(query["Signature"]), policy_text, padding.PKCS1v15(), hashes.SHA256())


def test_a_signed_url_expires_no_later_than_its_pass(signing_key: rsa.RSAPrivateKey) -> None:
    expires_ms = int(time.time() * 1000) + 900_999
    _, policy, _ = signed(signing_key, 15, "abc.def", expires_ms)
    (statement,) = policy["Statement"]
    until = statement["Condition"]["DateLessThan"]["AWS:EpochTime"]
    assert expires_ms // 1000 - 1 <= until <= expires_ms // 1000
    assert datetime.fromtimestamp(until, UTC) <= datetime.fromtimestamp(expires_ms / 1000, UTC)


def test_a_signed_url_opens_this_events_status_and_not_another_events(signing_key: rsa.RSAPrivateKey) -> None:
    _, policy, _ = signed(signing_key, 1, "abc.def", int(time.time() * 1000) + 900_000)
    resource = policy["Statement"][0]["Resource"]
    assert cloudfront_matches(resource, f"{CDN}/api/events/1/queue/status/?queue_pass=abc.def")
    for other in (10, 11, 100, 2):
        assert not cloudfront_matches(resource, f"{CDN}/api/events/{other}/queue/status/?queue_pass=abc.def")
    assert not cloudfront_matches(resource, f"{CDN}/api/events/1/queue/?queue_pass=abc.def")
    assert not cloudfront_matches(resource, "https://evil.example/api/events/1/queue/status/?queue_pass=abc.def")


def test_a_signed_url_opens_no_other_path_than_this_events_status(signing_key: rsa.RSAPrivateKey) -> None:
    _, policy, _ = signed(signing_key, 15, "abc.def", int(time.time() * 1000) + 900_000)
    resource = policy["Statement"][0]["Resource"]
    for path in (
        "/api/events/15/queue/status/x",
        "/api/events/15/queue/status/x/../../../../16/queue/status/",
        "/api/events/15/queue/status//api/v1/payments/stripe/retrieve-payment/",
        "/api/events/15/queue/status/Xqueue_pass=abc.def",
    ):
        for query in ("", "?queue_pass=abc.def"):
            assert not cloudfront_matches(resource, f"{CDN}{path}{query}"), f"the signed URL also opens {path}{query}"


def test_no_distribution_means_the_apis_own_route_unsigned() -> None:
    urls = StatusUrls(lambda: None, None, lambda: pytest.fail("no key is read without a distribution"))
    url = urls.url(15, "abc.def", int(time.time() * 1000) + 900_000, "https://abc123.execute-api.eu-west-1.amazonaws.com/")
    assert url == "https://abc123.execute-api.eu-west-1.amazonaws.com/api/events/15/queue/status/?queue_pass=abc.def"


def test_a_distribution_address_that_is_not_https_is_refused() -> None:
    urls = StatusUrls(lambda: "http://d111111abcdef8.cloudfront.net", "K", lambda: "unused")
    with pytest.raises(ValueError):
        urls.url(15, "abc.def", int(time.time() * 1000) + 900_000, "https://api.example.com")


# the template: route, distribution, cache ---------------------------------------------------------
TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


def _status_function() -> dict[str, Any]:
    for resource in RESOURCES.values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi" and event["Properties"]["Path"] == "/api/events/{event_id}/queue/status/":
                return dict(resource)
    raise AssertionError("no function serves the status route")


def test_the_status_route_is_open_to_get_only_throttled_and_its_function_reads_only() -> None:
    function = _status_function()
    (event,) = function["Properties"]["Events"].values()
    props = event["Properties"]
    assert props["Method"] == "GET"
    assert props["Auth"] == {"Authorizer": "NONE"}
    assert props["RouteSettings"]["ThrottlingRateLimit"] == {"Ref": "QueueStatusRateLimit"}
    assert props["RouteSettings"]["ThrottlingBurstLimit"] == {"Ref": "QueueStatusBurstLimit"}
    actions = [
        action
        for policy in function["Properties"]["Policies"]
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
        for action in statement["Action"]
    ]
    assert actions == ["dynamodb:GetItem"]
    ssm = [
        policy["SSMParameterReadPolicy"]["ParameterName"]
        for policy in function["Properties"]["Policies"]
        if "SSMParameterReadPolicy" in policy
    ]
    # The pass key only: the function that answers the public copy never holds the URL signing key.
    assert ssm == [{"Ref": "QueuePassKeyParameter"}]
    assert "QUEUE_STATUS_SIGNING_KEY_PARAMETER" not in function["Properties"].get("Environment", {}).get("Variables", {})


def test_the_cache_keys_on_the_path_alone_for_a_second_and_forwards_only_the_pass() -> None:
    config = RESOURCES["QueueStatusCachePolicy"]["Properties"]["CachePolicyConfig"]
    assert config["MaxTTL"] <= 1 and config["DefaultTTL"] <= 1
    key = config["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["QueryStringsConfig"]["QueryStringBehavior"] == "none"
    assert key["HeadersConfig"]["HeaderBehavior"] == "none"
    assert key["CookiesConfig"]["CookieBehavior"] == "none"
    origin = RESOURCES["QueueStatusOriginRequestPolicy"]["Properties"]["OriginRequestPolicyConfig"]
    assert origin["QueryStringsConfig"] == {"QueryStringBehavior": "whitelist", "QueryStrings": ["queue_pass"]}
    # No Authorization or cookie reaches the origin through the shared copy's behavior.
    assert origin["HeadersConfig"]["HeaderBehavior"] == "none" and origin["CookiesConfig"]["CookieBehavior"] == "none"


def test_every_behavior_of_the_distribution_needs_a_signed_url_and_serves_get_only() -> None:
    distribution = RESOURCES["QueueStatusDistribution"]["Properties"]["DistributionConfig"]
    behaviors = [distribution["DefaultCacheBehavior"], *distribution.get("CacheBehaviors", [])]
    for behavior in behaviors:
        assert behavior["TrustedKeyGroups"] == [{"Ref": "QueueStatusKeyGroup"}]
        assert set(behavior["AllowedMethods"]) <= {"GET", "HEAD"}
        assert behavior["ViewerProtocolPolicy"] in ("https-only", "redirect-to-https")
    (status_behavior,) = distribution["CacheBehaviors"]
    assert status_behavior["PathPattern"] == "/api/events/*/queue/status/"
    # The origin is the API over TLS.
    (origin,) = distribution["Origins"]
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"


def test_the_edge_answers_cors_for_the_frontend_only_without_credentials() -> None:
    config = RESOURCES["QueueStatusResponseHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]["CorsConfig"]
    assert config["AccessControlAllowOrigins"]["Items"] == [{"Ref": "FrontendUrl"}]
    assert config["AccessControlAllowCredentials"] is False
    assert set(config["AccessControlAllowMethods"]["Items"]) <= {"GET", "HEAD", "OPTIONS"}


def test_the_origins_errors_are_never_kept_at_the_edge() -> None:
    """The errors the status route's function can answer (400, 403, 404, 500, 503), each kept 0 s:
    CloudFront keeps an error 10 s by default, and the cache key is the path alone."""
    distribution = RESOURCES["QueueStatusDistribution"]["Properties"]["DistributionConfig"]
    kept = {entry["ErrorCode"]: entry.get("ErrorCachingMinTTL", 10) for entry in distribution.get("CustomErrorResponses", [])}
    for code in (400, 403, 404, 500, 503):
        assert kept.get(code) == 0, code


def test_gateway_errors_cloudfront_makes_itself_are_not_kept_either() -> None:
    distribution = RESOURCES["QueueStatusDistribution"]["Properties"]["DistributionConfig"]
    kept = {entry["ErrorCode"]: entry.get("ErrorCachingMinTTL", 10) for entry in distribution.get("CustomErrorResponses", [])}
    for code in (502, 504):
        assert kept.get(code) == 0, code


def test_only_the_signing_functions_hold_the_signing_key_and_the_distribution_address() -> None:
    holders = sorted(
        name
        for name, resource in RESOURCES.items()
        if resource["Type"] == "AWS::Serverless::Function"
        and "QUEUE_STATUS_SIGNING_KEY_PARAMETER" in resource["Properties"].get("Environment", {}).get("Variables", {})
    )
    assert holders == ["GetEventQueuePlaceFunction", "JoinEventQueueFunction"]


# any text at all: a clean refusal, never another exception (a 500) ---------------------------------
@given(st.one_of(st.text(max_size=200), st.from_regex(r"[A-Za-z0-9_-]{0,120}\.[A-Za-z0-9_-]{0,60}", fullmatch=True)))
def test_any_text_as_a_pass_is_refused_cleanly(token: str) -> None:
    from payments.domain.admission import PassRefused, read_event_pass
    from payments.errors import InvalidField
    from payments.models.common import validate
    from payments.models.tickets import QueueStatusQuery

    try:
        query = validate(QueueStatusQuery, {"queue_pass": token})
    except InvalidField as refused:
        assert refused.field == "queue_pass"
        return
    assert query.queue_pass is not None
    with pytest.raises(PassRefused):
        read_event_pass(PASS_KEY, query.queue_pass, event_id=15, now_ms=int(time.time() * 1000))


def test_the_pass_a_status_url_exposes_buys_nothing_for_another_account(dynamodb: Any, stripe_fake: Any) -> None:
    """The status URL carries the buyer's pass in its query (browser history, shared links): that pass
    opens the public status for anyone, but the purchase takes it only from its own account."""
    event_id = queued_event()
    leaked = parse_qs(urlsplit(join(event_id, "user-alice")["queue_status_url"]).query)["queue_pass"][0]
    join(event_id, "user-bob")
    bought = call("create_ticket_checkout", {"event_id": event_id, "quantity": 1, "queue_pass": leaked}, user="user-bob")
    assert bought.status == 403, bought.body
    assert bought.body["error"].startswith("queue_pass"), bought.body


def test_a_join_behind_a_distribution_answers_a_url_signed_until_its_pass_ends(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch, signing_key: rsa.RSAPrivateKey
) -> None:
    pem = signing_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    monkeypatch.setenv("QUEUE_STATUS_CDN_URL", CDN)
    monkeypatch.setenv("QUEUE_STATUS_KEY_PAIR_ID", "K2JCJMDEHXQW5F")
    monkeypatch.setenv("QUEUE_STATUS_SIGNING_KEY", pem)
    from payments import settings, wiring

    settings.get_settings.cache_clear()
    wiring.reset()
    try:
        event_id = queued_event()
        joined = join(event_id)
        url = joined["queue_status_url"]
        query = {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
        assert url.startswith(f"{CDN}/api/events/{event_id}/queue/status/?")
        assert query["queue_pass"] == joined["queue_pass"]
        policy_text = canned_policy(url, query)
        (statement,) = json.loads(policy_text)["Statement"]
        assert statement["Resource"] == f"{CDN}/api/events/{event_id}/queue/status/?queue_pass={joined['queue_pass']}"
        assert statement["Condition"]["DateLessThan"]["AWS:EpochTime"] <= joined["queue_pass_expires_at"]
        assert set(statement["Condition"]) == {"DateLessThan"}
        signing_key.public_key().verify(_cf_b64decode(query["Signature"]), policy_text, padding.PKCS1v15(), hashes.SHA256())
        # The answer names no secret: not the private key, only the public key's id.
        assert "PRIVATE KEY" not in json.dumps(joined) and pem.splitlines()[1] not in json.dumps(joined)
    finally:
        settings.get_settings.cache_clear()
        wiring.reset()
