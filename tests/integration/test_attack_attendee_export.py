"""Attacks on the attendee export (GET /api/events/{event_id}/attendees/): staff only, every ticket
exactly once over the pages, a cursor that cannot be bent to another event's tickets or a forged
shard, formula cells defused, no door code, session or checkout address in the file, a bounded
``limit``, never a 500."""

from __future__ import annotations

import base64
import csv
import io
import json
from typing import Any

import pytest

from local.stripe_fake import StripeFake
from tests.support.flows import STAFF, buy, create_event
from tests.support.lambdas import LambdaContext, api_event, load_module

pytestmark = pytest.mark.usefixtures("dynamodb")


def export(
    event_id: int | str, query: dict[str, str] | None = None, *, groups: str = STAFF, user: str | None = "user-staff"
) -> tuple[int, str, dict[str, str]]:
    event = api_event("get_event_attendees", user=user, groups=groups, path_params={"event_id": str(event_id)})
    event["queryStringParameters"] = query
    event["rawQueryString"] = "&".join(f"{key}={value}" for key, value in (query or {}).items())
    response = load_module("get_event_attendees").lambda_handler(event, LambdaContext(function_name="get_event_attendees"))
    return response["statusCode"], response.get("body") or "", response.get("headers", {})


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def all_pages(event_id: int, limit: int) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    cursor = None
    for _ in range(200):
        query = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        status, text, headers = export(event_id, query)
        assert status == 200, text
        page = rows(text)
        assert len(page) <= limit
        found += page
        cursor = headers.get("X-Next-Cursor")
        if cursor is None:
            return found
    raise AssertionError("the export never ended")


def cursor_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def free_tickets(event_id: int, owners: list[str]) -> list[int]:
    ids = []
    for owner in owners:
        result = buy(event_id, 1, user=owner)
        assert result.status == 200, result.body
        ids.append(int(result.body["ticket_id"]))
    return ids


@pytest.mark.parametrize("groups", ["[customers]", "[staffers]", "Staff", "[customers  staff]", ""])
def test_only_staff_export(groups: str) -> None:
    event_id = create_event(price=0, capacity=5)
    free_tickets(event_id, ["user-a"])
    status, text, _ = export(event_id, groups=groups)
    assert status == 403, text
    assert "user-a" not in text


def test_anonymous_export_is_401() -> None:
    event_id = create_event(price=0, capacity=5)
    status, _, _ = export(event_id, user=None)
    assert status == 401


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 5000])
def test_every_ticket_exactly_once_over_pages_and_shards(limit: int) -> None:
    event_id = create_event(price=0, capacity=30, seat_shards=4)
    other = create_event(price=0, capacity=5, seat_shards=2)
    ids = free_tickets(event_id, [f"user-{n}" for n in range(11)])
    free_tickets(other, ["user-other-1", "user-other-2"])
    listed = [int(row["ticket_id"]) for row in all_pages(event_id, limit)]
    assert sorted(listed) == sorted(ids), listed
    assert len(listed) == len(set(listed))


def test_link_header_matches_the_cursor() -> None:
    event_id = create_event(price=0, capacity=10, seat_shards=2)
    free_tickets(event_id, [f"user-{n}" for n in range(3)])
    status, _, headers = export(event_id, {"limit": "1"})
    assert status == 200
    assert headers["Link"] == f'<?limit=1&cursor={headers["X-Next-Cursor"]}>; rel="next"'
    assert headers["Cache-Control"] == "no-store"


def test_cursor_of_another_events_ticket_is_refused() -> None:
    event_id = create_event(price=0, capacity=10, seat_shards=2)
    other = create_event(price=0, capacity=10, seat_shards=2)
    free_tickets(event_id, ["user-a", "user-b"])
    foreign = free_tickets(other, ["user-c"])[0]
    # The other event's ticket under this event's id: the cursor names this event, the ticket is not of it.
    for shard in (0, 1):
        status, text, _ = export(event_id, {"cursor": cursor_of(f"{event_id}.{shard}.{foreign}")})
        assert status == 400 and "cursor" in text, text
    # The other event's own cursor handed to this event's export.
    _, _, headers = export(other, {"limit": "1"})
    if "X-Next-Cursor" in headers:
        status, text, _ = export(event_id, {"cursor": headers["X-Next-Cursor"]})
        assert status == 400 and "cursor" in text, text


def test_cursor_with_a_forged_shard_is_refused() -> None:
    event_id = create_event(price=0, capacity=10, seat_shards=3)
    ids = free_tickets(event_id, ["user-a", "user-b", "user-c"])
    _, _, headers = export(event_id, {"limit": "1"})
    real = base64.urlsafe_b64decode(headers["X-Next-Cursor"] + "==").decode()
    _, shard, ticket = real.split(".")
    for forged in {0, 1, 2, 3, 63, 999} - {int(shard)}:
        status, text, _ = export(event_id, {"cursor": cursor_of(f"{event_id}.{forged}.{ticket}")})
        assert status == 400 and "cursor" in text, (forged, text)
    assert int(ticket) in ids


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "a" * 201,
        "AAAA",
        "____",
        cursor_of("1.0.0"),
        cursor_of("1.0.-1"),
        cursor_of("1.0.99999999999999999999"),
        cursor_of("1.00.1"),
        cursor_of("1.0.1.0"),
        cursor_of("x.y.z"),
        cursor_of("1.0.1\n"),
        cursor_of("1.0.999999999999999999"),
        base64.urlsafe_b64encode("1.0.1".encode("utf-16")).decode().rstrip("="),
        base64.urlsafe_b64encode(b"\xff\xfe\x00").decode().rstrip("="),
    ],
)
def test_garbage_cursors_are_400s_naming_cursor(cursor: str) -> None:
    event_id = create_event(price=0, capacity=10)
    assert event_id == 1
    free_tickets(event_id, ["user-a"])
    status, text, _ = export(event_id, {"cursor": cursor})
    assert status == 400, text
    assert "cursor" in json.loads(text)["error"], text


@pytest.mark.parametrize("limit", ["0", "-1", "5001", "abc", "", "1.5", "1e3", "99999999999999999999999", " 5", "0x10"])
def test_limit_is_bounded(limit: str) -> None:
    event_id = create_event(price=0, capacity=10)
    status, text, _ = export(event_id, {"limit": limit})
    assert status == 400, text
    assert "limit" in json.loads(text)["error"], text


def test_unknown_query_parameter_is_refused() -> None:
    event_id = create_event(price=0, capacity=10)
    status, text, _ = export(event_id, {"limt": "5"})
    assert status == 400 and "limt" in text, text


@pytest.mark.parametrize("path", ["abc", "0", "-1", "99999999999999999999999", "424242"])
def test_bad_or_unknown_event_is_400_or_404(path: str) -> None:
    status, text, _ = export(path)
    assert status in (400, 404), text


FORMULAS = ['=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1)", "\r=1+1", "=cmd|' /C calc'!A0"]


@pytest.mark.parametrize("owner", FORMULAS)
def test_formula_owners_are_defused(owner: str) -> None:
    event_id = create_event(price=0, capacity=10)
    free_tickets(event_id, [owner])
    status, text, _ = export(event_id)
    assert status == 200
    [row] = rows(text)
    assert row["owner"] == "'" + owner


def test_formula_after_a_semicolon_is_defused() -> None:
    event_id = create_event(price=0, capacity=10)
    free_tickets(event_id, ["x;=1+1", "y;@SUM(A1)"])
    _, text, _ = export(event_id)
    # Read as a spreadsheet set to ';' reads it (quotes honoured): no cell may start a formula.
    for row in list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), row


def test_quotes_and_newlines_in_owner_stay_one_cell() -> None:
    event_id = create_event(price=0, capacity=10)
    owner = 'a","=1+1"\r\nb,=2+2'
    free_tickets(event_id, [owner, "user-plain"])
    _, text, _ = export(event_id)
    parsed = rows(text)
    assert len(parsed) == 2
    assert {row["owner"] for row in parsed} == {owner, "user-plain"}
    assert all(len(row) == 8 for row in parsed)


def test_no_codes_sessions_or_checkout_urls_in_the_export(stripe_fake: StripeFake) -> None:
    event_id = create_event(price=25, capacity=10, seat_shards=2)
    held = [buy(event_id, 1, user=f"user-{n}") for n in range(3)]
    assert all(result.status == 200 for result in held)
    status, text, _ = export(event_id)
    assert status == 200
    assert len(rows(text)) == 3
    for result in held:
        for secret in (result.body["ticket_code"], result.body["session_id"], result.body["checkout_url"]):
            assert secret not in text
    assert "cs_" not in text and "http" not in text
    header = text.splitlines()[0].split(",")
    assert not {"ticket_code", "session_id", "checkout_url", "qr_code", "payment_intent"} & set(header)


def test_export_writes_nothing(dynamodb: Any) -> None:
    from tests.support.dynamo import TICKETS, scan

    event_id = create_event(price=0, capacity=10)
    free_tickets(event_id, ["user-a", "user-b"])
    before = scan(dynamodb, TICKETS)
    export(event_id, {"limit": "1"})
    export(event_id, {"cursor": "garbage"})
    assert scan(dynamodb, TICKETS) == before
