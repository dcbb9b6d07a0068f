"""The demo's on-sale queue in a real browser (Debian's Chromium driven by Playwright), against the
local stack and its own admitter: staff create a queued event of one seat, buyer A joins, is
admitted and reaches the local Checkout page with the queue pass, and buyer B, behind, is told there
is no estimate while A's admission holds the seat, then "sold out" once A has it, all of it from the
queue's status (never asking for B's own place while B waits). Screenshots are
kept in test-artifacts/screenshots, as the demo's other browser tests keep theirs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.e2e.conftest import RunningStack
from tests.e2e.test_demo_browser import CHROMIUM, FLAGS, shot, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed; .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def new_tab(browser: Any, demo_stack: RunningStack) -> Iterator[Callable[[], Any]]:
    """A tab of its own browser context (its own storage: one signed-in user each)."""
    contexts: list[Any] = []

    def opened() -> Any:
        context = browser.new_context(viewport={"width": 1100, "height": 800})
        contexts.append(context)
        tab = context.new_page()
        tab.set_default_timeout(20_000)
        return tab

    yield opened
    for context in contexts:
        context.close()


def test_a_queued_event_admits_one_buyer_to_checkout_and_tells_the_next_sold_out(new_tab, demo_stack):
    # Staff create a paid event of one seat with its queue from the page
    staff = new_tab()
    sign_in(staff, demo_stack, user="queue-staff", staff=True)
    staff.fill("#event-name", "Queued browser gig")
    staff.fill("#event-price", "18")
    staff.fill("#event-capacity", "1")
    staff.check("#event-queue")
    staff.click("#new-event button")
    staff.wait_for_selector("text=sold through its queue")
    row = staff.locator("li[data-event-id]", has_text="Queued browser gig")
    assert "1 left — sold through a queue" in row.text_content()
    event_id = row.get_attribute("data-event-id")

    # Buyer A joins from the event's row and is admitted by the local stack's admitter
    buyer_a = new_tab()
    sign_in(buyer_a, demo_stack, user="queue-buyer-a")
    buyer_a.locator(f"li[data-event-id='{event_id}'] button.join").click()
    buyer_a.wait_for_selector("text=Queue for Queued browser gig — place 1")
    buyer_a.wait_for_selector("text=Admitted: buy before")
    assert buyer_a.is_visible("#queue-buy-button")
    shot(buyer_a, "11-queue-admitted")

    # Buyer B joins behind A: while A's admission holds the one seat, no wait is promised
    buyer_b = new_tab()
    sign_in(buyer_b, demo_stack, user="queue-buyer-b")
    asked: list[str] = []
    buyer_b.on("request", lambda request: asked.append(f"{request.method} {urlsplit(request.url).path}"))
    buyer_b.locator(f"li[data-event-id='{event_id}'] button.join").click()
    buyer_b.wait_for_selector("text=Queue for Queued browser gig — place 2")
    buyer_b.wait_for_selector("text=no estimate: the seats left are held for buyers admitted ahead of you")
    assert buyer_b.text_content("#queue-status").startswith("Waiting: admitted up to place 1; ")
    assert buyer_b.is_hidden("#queue-buy-button")
    shot(buyer_b, "12-queue-waiting-on-seats")

    # A buys with the admission: the pass goes with the purchase, and A reaches the Checkout page
    buyer_a.click("#queue-buy-button")
    buyer_a.wait_for_selector("#pay")  # the local Stripe Checkout page
    shot(buyer_a, "13-queue-checkout")

    # B's page, still asking, says sold out
    buyer_b.wait_for_selector("text=Sold out.")
    assert buyer_b.get_attribute("#queue", "class") == "sold-out"
    assert buyer_b.is_hidden("#queue-buy-button")
    buyer_b.locator(f"li[data-event-id='{event_id}']", has_text="0 left").wait_for()  # the list read again
    # B's page heard all of it from the queue's status (its URL, no token), never asking for its own
    # place while waiting: one answer for every waiting buyer, which a CDN keeps (docs/on-sales.md).
    queue_url = f"/api/events/{event_id}/queue/"
    assert asked.count(f"GET {queue_url}status/") >= 2, asked
    assert asked.count(f"GET {queue_url}") == 0, asked
    shot(buyer_b, "14-queue-sold-out")

    # and A's payment goes through as any paid ticket's
    buyer_a.click("#pay")
    buyer_a.wait_for_selector("text=Payment verified")
    assert "Payment successful" in buyer_a.text_content("#result-title")


def test_staff_enable_the_queue_of_an_event_before_its_sale(new_tab, demo_stack):
    created = requests.post(
        f"{demo_stack.api}/api/events/",
        json={"name": "Browser queue later", "price": 12, "currency": "usd", "capacity": 4},
        headers=demo_stack.headers("staff", staff=True),
        timeout=30,
    ).json()
    staff = new_tab()
    sign_in(staff, demo_stack, user="queue-staff-2", staff=True)
    staff.locator(f"li[data-event-id='{created['event_id']}'] button.enable").click()
    staff.wait_for_selector(f"text=Event {created['event_id']} now sells through its queue")
    row = staff.locator(f"li[data-event-id='{created['event_id']}']")
    row.locator("button.join").wait_for()
    assert "sold through a queue" in row.text_content()
    assert row.locator("button.buy").count() == 0
