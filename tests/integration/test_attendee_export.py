"""The staff's attendee export through its handler and DynamoDB (moto): an event's tickets in every
state, spread over its seat shards, downloaded as CSV a page at a time, each ticket exactly once;
staff only, an unknown event 404, a bad limit or a forged cursor a 400 naming the field, never 500."""

from __future__ import annotations

import base64
import csv
import io
import types
from decimal import Decimal
from typing import Any

import pytest

from tests.support.dynamo import TICKETS, items_with_prefix
from tests.support.flows import STAFF, buy, cancel, create_event, pay, verify
from tests.support.lambdas import LambdaContext, api_event, call, load_module

FUNCTION = "get_event_attendees"


def export(event_id: Any, user: str = "user-staff", groups: str = STAFF, **query: Any) -> dict[str, Any]:
    """The handler's own answer: its body is CSV, not the JSON that tests.support.lambdas.invoke reads."""
    event = api_event(FUNCTION, user=user, groups=groups, path_params={"event_id": str(event_id)})
    event["queryStringParameters"] = {name: str(value) for name, value in query.items()} or None
    response: dict[str, Any] = load_module(FUNCTION).lambda_handler(event, LambdaContext(function_name=FUNCTION))
    return response


def header(response: dict[str, Any], name: str) -> str | None:
    return {key.lower(): value for key, value in response.get("headers", {}).items()}.get(name.lower())


def table(response: dict[str, Any]) -> list[dict[str, str]]:
    assert response["statusCode"] == 200, response["body"]
    assert header(response, "content-type") == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(response["body"], newline="")))


def error(response: dict[str, Any]) -> str:
    import json

    assert header(response, "content-type") == "application/json"
    return str(json.loads(response["body"])["error"])


def all_pages(event_id: int, limit: int) -> tuple[list[dict[str, str]], int]:
    rows: list[dict[str, str]] = []
    cursor: str | None = None
    pages = 0
    while True:
        response = export(event_id, limit=limit, **({"cursor": cursor} if cursor else {}))
        page = table(response)
        assert len(page) <= limit
        rows += page
        pages += 1
        cursor = header(response, "x-next-cursor")
        if cursor is None:
            assert header(response, "link") is None
            return rows, pages
        assert header(response, "link") == f'<?limit={limit}&cursor={cursor}>; rel="next"'
        assert pages < 20, "the cursor does not advance"


FORMULA_OWNER = '=HYPERLINK("http://evil.example","click")'


@pytest.fixture
def sold(dynamodb: Any, stripe_fake: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """An event of three seat shards with tickets paid (one partly admitted), refunded, reserved,
    cancelled, and one bought by an account whose id is a spreadsheet formula."""
    from payments.repositories import tickets as tickets_repository

    # Each purchase starts looking at the next shard, so that the tickets spread over all three.
    starts = iter(range(100))
    monkeypatch.setattr(tickets_repository, "secrets", types.SimpleNamespace(randbelow=lambda n: next(starts) % n))
    event_id = create_event(price=Decimal("12.50"), capacity=30, seat_shards=3)
    tickets: dict[str, dict[str, Any]] = {}
    for user, quantity in (("user-a", 2), ("user-b", 3), ("user-c", 1), (FORMULA_OWNER, 1)):
        body = buy(event_id, quantity, user=user).body
        pay(stripe_fake, body["session_id"])
        assert verify(body["session_id"], body["ticket_id"], user=user).status == 200
        tickets[user] = body
    tickets["user-d"] = buy(event_id, 4, user="user-d").body  # reserved, unpaid
    tickets["user-e"] = buy(event_id, 1, user="user-e").body
    assert cancel(tickets["user-e"]["ticket_id"], user="user-e").status == 200
    assert call("refund_ticket", {"ticket_id": tickets["user-c"]["ticket_id"]}, user="user-staff", groups=STAFF).status == 200
    admitted = call(
        "check_in_ticket", {"ticket_code": tickets["user-a"]["ticket_code"], "event_id": event_id, "count": 1}, user="door", groups=STAFF
    )
    assert admitted.status == 200, admitted.body
    shards = {item["event_shard"] for item in items_with_prefix(dynamodb, TICKETS, "TICKET#") if item["event_id"] == event_id}
    assert shards == {f"{event_id}#{k}" for k in range(3)}
    return {"event_id": event_id, "tickets": tickets}


def test_staff_export_every_ticket_once_over_several_pages_and_shards(sold):
    # Given an event's six tickets over three shards, When staff download them two a page
    rows, pages = all_pages(sold["event_id"], limit=2)
    # Then every ticket comes exactly once, over three pages or more (an empty last one allowed)
    ids = [int(row["ticket_id"]) for row in rows]
    assert len(ids) == len(set(ids)) == 6
    assert set(ids) == {int(body["ticket_id"]) for body in sold["tickets"].values()}
    assert pages >= 3
    by_owner = {row["owner"]: row for row in rows}
    assert set(by_owner) == {"user-a", "user-b", "user-c", "user-d", "user-e", "'" + FORMULA_OWNER}
    a = by_owner["user-a"]
    assert (a["quantity"], a["status"], a["admitted"]) == ("2", "paid", "1")
    assert a["admitted_at"].endswith("Z") and a["paid_at"].endswith("Z") and a["created_at"].endswith("Z")
    assert (by_owner["user-b"]["status"], by_owner["user-b"]["admitted"], by_owner["user-b"]["admitted_at"]) == ("paid", "0", "")
    assert by_owner["user-c"]["status"] == "refunded"
    assert (by_owner["user-d"]["status"], by_owner["user-d"]["quantity"], by_owner["user-d"]["paid_at"]) == ("reserved", "4", "")
    assert by_owner["user-e"]["status"] == "cancelled"


@pytest.mark.parametrize("limit", [1, 4, 5])
def test_pages_of_any_size_list_the_tickets_in_index_order_each_once(sold, dynamodb, limit):
    # Pages that end inside a shard and pages that span two: shard by shard, by ticket id.
    listed = sorted(
        (int(str(item["event_shard"]).split("#")[1]), int(item["ticket_id"]))
        for item in items_with_prefix(dynamodb, TICKETS, "TICKET#")
        if item["event_id"] == sold["event_id"]
    )
    rows, pages = all_pages(sold["event_id"], limit=limit)
    assert [int(row["ticket_id"]) for row in rows] == [ticket_id for _, ticket_id in listed]
    assert pages in (-(-6 // limit), -(-6 // limit) + 1)  # a full last page may be followed by an empty one


def test_one_page_holds_everything_when_the_limit_allows_and_hands_on_no_cursor(sold):
    response = export(sold["event_id"])
    assert len(table(response)) == 6
    assert header(response, "x-next-cursor") is None
    assert header(response, "content-disposition") == f'attachment; filename="event-{sold["event_id"]}-attendees.csv"'
    assert header(response, "cache-control") == "no-store"
    # Nothing that opens a checkout or passes a door: no session id, checkout address or ticket code.
    for body in sold["tickets"].values():
        assert body["ticket_code"] not in response["body"]
        if body.get("session_id"):
            assert body["session_id"] not in response["body"]
    assert "checkout" not in response["body"] and "cs_" not in response["body"]


def test_an_event_without_tickets_is_the_header_alone(dynamodb):
    event_id = create_event(capacity=5)
    response = export(event_id)
    assert response["body"] == "ticket_id,owner,quantity,status,admitted,admitted_at,created_at,paid_at\r\n"
    assert header(response, "x-next-cursor") is None


@pytest.mark.parametrize(("user", "groups"), [("user-alice", "[customers]"), ("user-alice", "[staffers]"), ("user-alice", "[]")])
def test_a_caller_outside_the_staff_group_is_403(dynamodb, user, groups):
    event_id = create_event(capacity=5)
    response = export(event_id, user=user, groups=groups)
    assert response["statusCode"] == 403
    assert error(response) == "Staff role required"


def test_an_unknown_event_is_404_and_a_bad_event_id_400(dynamodb):
    assert export(999_999)["statusCode"] == 404
    response = export("abc")
    assert response["statusCode"] == 400 and error(response).startswith("event_id")


@pytest.mark.parametrize("limit", ["0", "5001", "-1", "ten", "1.5", "", "9" * 40])
def test_a_bad_limit_is_400_naming_it(dynamodb, limit):
    response = export(create_event(capacity=5), limit=limit)
    assert response["statusCode"] == 400, response["body"]
    assert error(response).startswith("limit")


def test_an_unknown_query_parameter_is_400_naming_it(dynamodb):
    response = export(create_event(capacity=5), limt=5)
    assert response["statusCode"] == 400 and error(response).startswith("limt")


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def test_forged_altered_and_foreign_cursors_are_400_naming_the_cursor_never_500(sold):
    event_id = sold["event_id"]
    first = export(event_id, limit=2)
    genuine = header(first, "x-next-cursor")
    assert genuine
    other_event = create_event(capacity=5)
    foreign = export(other_event, limit=2, cursor=genuine)  # a cursor of another event's export
    assert foreign["statusCode"] == 400 and error(foreign).startswith("cursor")
    ticket_ids = sorted(int(body["ticket_id"]) for body in sold["tickets"].values())
    forged = [
        "garbage",
        genuine[:-2],
        genuine + "A",
        b64(f"{event_id}.0.{max(ticket_ids) + 1000}"),  # no such ticket
        b64(f"{event_id}.63.{ticket_ids[0]}"),  # a shard the event does not have
        b64(f"{event_id}.0.0"),
        "%00",
        "é" * 10,
        "A" * 2000,
    ]
    for cursor in forged:
        response = export(event_id, limit=2, cursor=cursor)
        assert response["statusCode"] == 400, (cursor, response["body"])
        assert error(response).startswith("cursor"), cursor


def test_a_ticket_listed_under_another_shard_cannot_be_named_by_a_cursor(sold, dynamodb):
    event_id = sold["event_id"]
    for item in items_with_prefix(dynamodb, TICKETS, "TICKET#"):
        if item["event_id"] != event_id:
            continue
        shard = int(str(item["event_shard"]).split("#")[1])
        wrong = b64(f"{event_id}.{(shard + 1) % 3}.{int(item['ticket_id'])}")
        right = b64(f"{event_id}.{shard}.{int(item['ticket_id'])}")
        assert export(event_id, limit=2, cursor=wrong)["statusCode"] == 400
        assert export(event_id, limit=2, cursor=right)["statusCode"] == 200
