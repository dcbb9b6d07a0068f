"""The queue's status through the handlers (moto): GET /api/events/{event_id}/queue/status/, one
answer for every waiting buyer that CloudFront keeps a second, opened by a queue pass of the event
(issue 27: everyone still waiting hears "sold out" within 5 s); and the queue_status_url the join
and place answers carry."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from payments import dynamodb, wiring
from payments.domain.admission import QueuePass, sign_pass
from tests.support.flows import STAFF, create_event
from tests.support.lambdas import ApiResult, api_event, call, invoke
from tests.support.queues import KEY, frozen_time, queue_settings

API = "https://abc123.execute-api.eu-west-1.amazonaws.com"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    return frozen_time(monkeypatch)


@pytest.fixture
def queue_env(monkeypatch: pytest.MonkeyPatch, dynamodb: Any) -> Any:
    queue_settings(monkeypatch)
    return dynamodb


def queued_event(capacity: int = 1) -> int:
    body = {"name": "Stadium On-Sale", "price": 25, "currency": "usd", "capacity": capacity, "on_sale_queue": True}
    result = call("create_event", body, user="user-staff", groups=STAFF)
    assert result.status == 201, result.body
    return int(result.body["event_id"])


def join(event_id: int, user: str) -> ApiResult:
    return call("join_event_queue", path_params={"event_id": str(event_id)}, user=user)


def status(event_id: Any, queue_pass: str | None) -> ApiResult:
    """As CloudFront forwards it (or a page asks the API directly): no token, the pass in the query."""
    event = api_event("get_event_queue_status", path_params={"event_id": str(event_id)})
    event["queryStringParameters"] = None if queue_pass is None else {"queue_pass": queue_pass}
    event["rawQueryString"] = "" if queue_pass is None else urlencode({"queue_pass": queue_pass})
    return invoke("get_event_queue_status", event)


def dynamodb_calls() -> list[str]:
    calls: list[str] = []
    dynamodb.get_client().meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    return calls


def test_a_waiting_buyer_hears_sold_out_from_the_shared_status_with_any_pass_of_the_event(queue_env, clock):
    event_id = queued_event(capacity=1)
    first = join(event_id, "user-alice").body
    second = join(event_id, "user-bob").body
    clock[0] += 1
    wiring.queue_service().admit_once()  # one seat: the first admitted; the second waits
    calls = dynamodb_calls()
    answer = status(event_id, second["queue_pass"])
    assert answer.status == 200, answer.body
    assert answer.headers["Cache-Control"] == "public, max-age=1, s-maxage=1"
    assert answer.body == {
        "event_id": event_id,
        "admitted_to": first["place"],
        "sold_out": False,
        "seat_bound": True,  # the one seat is held for the admitted buyer: no wait promised
        "admission_rate_per_second": 25,
        "updated_at": int(clock[0]),
        "poll_after_ms": 2000,
    }
    # One read of a copy of the state: never the event, its seats, nor the buyer's item.
    assert calls == ["GetItem"]
    # The same answer whichever buyer's pass opens it (the CDN keeps one per event).
    assert status(event_id, first["queue_pass"]).body == answer.body


def test_the_status_says_sold_out_once_the_last_seat_is_taken(queue_env, clock, stripe_fake):
    event_id = queued_event(capacity=1)
    first = join(event_id, "user-alice").body
    waiting = join(event_id, "user-bob").body
    clock[0] += 1
    wiring.queue_service().admit_once()
    bought = call("create_ticket_checkout", {"event_id": event_id, "quantity": 1, "queue_pass": first["queue_pass"]}, user="user-alice")
    assert bought.status == 200, bought.body
    clock[0] += 1
    wiring.queue_service().admit_once()
    heard = status(event_id, waiting["queue_pass"]).body
    assert (heard["sold_out"], heard["admitted_to"] < waiting["place"]) == (True, True)


@pytest.mark.parametrize(
    ("token", "error"),
    [
        pytest.param(lambda event_id: None, "queue_pass: required (send the queue_status_url of your join or place answer)", id="missing"),
        pytest.param(lambda event_id: "x.y", "queue_pass: not a queue pass of ours", id="forged"),
        pytest.param(
            lambda event_id: sign_pass(b"another key", QueuePass(event_id, "user-alice", 1, int(time.time() * 1000) + 60_000)),
            "queue_pass: not a queue pass of ours",
            id="another-key",
        ),
        pytest.param(
            lambda event_id: sign_pass(KEY.encode(), QueuePass(event_id, "user-alice", 1, int(time.time() * 1000) - 1)),
            "queue_pass: expired; ask for your place again for a new one",
            id="expired",
        ),
        pytest.param(
            lambda event_id: sign_pass(KEY.encode(), QueuePass(event_id + 1, "user-alice", 1, int(time.time() * 1000) + 60_000)),
            "queue_pass: a queue pass of another event",
            id="other-event",
        ),
    ],
)
def test_a_status_without_a_good_pass_is_403_and_reads_nothing(queue_env, clock, token, error):
    event_id = queued_event()
    join(event_id, "user-alice")
    calls = dynamodb_calls()
    refused = status(event_id, token(event_id))
    assert (refused.status, refused.body) == (403, {"error": error})
    assert calls == []


def test_the_status_of_an_event_without_a_queue_is_404_and_a_bad_event_id_400(queue_env, clock, stripe_fake):
    event_id = create_event(price=25, capacity=10)
    own_pass = sign_pass(KEY.encode(), QueuePass(event_id, "user-alice", 1, int(time.time() * 1000) + 60_000))
    assert (status(event_id, own_pass).status, status(event_id, own_pass).body) == (404, {"error": "This event has no queue"})
    bad = status("abc", own_pass)
    assert bad.status == 400 and bad.body["error"].startswith("event_id:"), bad.body


def test_join_and_place_answers_carry_the_status_url_on_the_api_itself_without_a_cdn(queue_env, clock):
    event_id = queued_event()
    joined = join(event_id, "user-alice")
    polled = call("get_event_queue_place", path_params={"event_id": str(event_id)}, user="user-alice")
    for answer in (joined.body, polled.body):
        url = urlsplit(answer["queue_status_url"])
        assert f"{url.scheme}://{url.netloc}{url.path}" == f"{API}/api/events/{event_id}/queue/status/"
        assert parse_qs(url.query) == {"queue_pass": [answer["queue_pass"]]}
        # The URL as given opens the status.
        assert status(event_id, parse_qs(url.query)["queue_pass"][0]).status == 200


def test_with_a_cdn_the_answers_carry_a_url_signed_for_it(queue_env, clock, monkeypatch):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    monkeypatch.setenv("QUEUE_STATUS_CDN_URL", "https://d111111abcdef8.cloudfront.net")
    monkeypatch.setenv("QUEUE_STATUS_KEY_PAIR_ID", "K2JCJMDEHXQW5F")
    monkeypatch.setenv("QUEUE_STATUS_SIGNING_KEY", pem)
    wiring.reset()
    event_id = queued_event()
    answer = join(event_id, "user-alice").body
    url = urlsplit(answer["queue_status_url"])
    query = parse_qs(url.query)
    assert (url.netloc, url.path) == ("d111111abcdef8.cloudfront.net", f"/api/events/{event_id}/queue/status/")
    assert query["queue_pass"] == [answer["queue_pass"]] and query["Key-Pair-Id"] == ["K2JCJMDEHXQW5F"]
    # A canned policy (Expires, no Policy): its resource is the URL itself, path and pass.
    assert set(query) == {"queue_pass", "Expires", "Signature", "Key-Pair-Id", "Hash-Algorithm"}


def test_the_status_function_calls_only_what_its_policy_grants(queue_env, clock):
    from local.template import load_template, resources_of_type

    event_id = queued_event()
    queue_pass = join(event_id, "user-alice").body["queue_pass"]
    calls = dynamodb_calls()
    status(event_id, queue_pass)
    wiring.reset()  # a fresh container: the queue's copies read, nothing else
    status(event_id, queue_pass)
    function = resources_of_type(load_template(), "AWS::Serverless::Function")["GetEventQueueStatusFunction"]
    [statement] = function["Properties"]["Policies"][0]["Statement"]
    assert {f"dynamodb:{name}" for name in calls} <= set(statement["Action"]) == {"dynamodb:GetItem"}
