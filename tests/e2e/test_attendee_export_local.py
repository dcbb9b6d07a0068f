"""The attendee export over HTTP against the local stack, as a staff tool downloads it: CSV pages
followed by their Link header until none is left, every ticket once; customers refused; a forged
cursor a 400 naming it."""

from __future__ import annotations

import csv
import io
import re

import pytest

pytestmark = pytest.mark.e2e


def test_staff_download_every_ticket_once_following_the_next_links(stack, http):
    # Given a free event of three seat shards and four buyers, one whose account id is a formula
    created = http.post(
        f"{stack.api}/api/events/",
        json={"name": "E2E export", "price": 0, "currency": "usd", "capacity": 30, "seat_shards": 3},
        headers=stack.headers("e2e-staff", staff=True),
    )
    assert created.status_code == 201, created.text
    event_id = created.json()["event_id"]
    bought = {}
    for user in ("e2e-export-a", "e2e-export-b", "e2e-export-c", "=1+1"):
        answer = http.post(
            f"{stack.api}/api/payments/create-payment-intent/", json={"event_id": event_id, "quantity": 2}, headers=stack.headers(user)
        )
        assert answer.status_code == 200, answer.text
        bought[answer.json()["ticket_id"]] = user
    # When staff download the export three tickets a page, following each page's Link
    base = f"{stack.api}/api/events/{event_id}/attendees/"
    url = f"{base}?limit=3"
    rows, pages = [], 0
    while url:
        page = http.get(url, headers=stack.headers("e2e-staff", staff=True))
        assert page.status_code == 200, page.text
        assert page.headers["Content-Type"] == "text/csv; charset=utf-8"
        reader = csv.DictReader(io.StringIO(page.text, newline=""))
        assert reader.fieldnames == ["ticket_id", "owner", "quantity", "status", "admitted", "admitted_at", "created_at", "paid_at"]
        rows += list(reader)
        pages += 1
        link = page.headers.get("Link")
        assert (link is None) == ("X-Next-Cursor" not in page.headers)
        following = re.fullmatch(r'<(\?[^>]+)>; rel="next"', link or "")
        url = base + following[1] if following else ""  # the link is relative: the same path, the next query
        assert pages < 10
    # Then every ticket comes once, in two pages or more, the formula defused
    assert pages >= 2
    assert sorted(int(row["ticket_id"]) for row in rows) == sorted(bought)
    assert {int(row["ticket_id"]): row["owner"] for row in rows} == {
        ticket_id: ("'" + user if user.startswith("=") else user) for ticket_id, user in bought.items()
    }
    assert {row["status"] for row in rows} == {"paid"}
    # And a customer is refused, a forged cursor is a 400 naming it
    refused = http.get(f"{stack.api}/api/events/{event_id}/attendees/", headers=stack.headers("e2e-export-a"))
    assert refused.status_code == 403
    forged = http.get(f"{stack.api}/api/events/{event_id}/attendees/?cursor=Zm9yZ2Vk", headers=stack.headers("e2e-staff", staff=True))
    assert forged.status_code == 400 and forged.json()["error"].startswith("cursor")
    # And a browser on the frontend's origin may read the next page's headers (the HTTP API's
    # CorsConfiguration exposes them; without it a script sees neither X-Next-Cursor nor Link)
    page = http.get(f"{base}?limit=3", headers={**stack.headers("e2e-staff", staff=True), "Origin": "http://localhost:5173"})
    assert page.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    exposed = {name.strip().lower() for name in page.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"x-next-cursor", "link"} <= exposed
