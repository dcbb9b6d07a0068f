"""The demo frontend in a real browser (Debian's Chromium driven by Playwright): sign in, list events,
a free ticket with its QR code, a paid ticket through the local Checkout page back to the success
page, a cancelled checkout, a Stripe payment intent and a PayPal order. Screenshots are kept in
test-artifacts/screenshots."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.unit.test_qr import decode_qr

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# Chromium's own network chatter is refused on a closed network; these flags keep it quiet.
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if CHROMIUM is None and os.environ.get("REQUIRE_BROWSER"):
    raise RuntimeError("REQUIRE_BROWSER is set but no Chromium is installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed; .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, demo_stack):
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    yield tab
    context.close()


def shot(tab, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(tab, stack, user="browser-user", staff=False):
    tab.goto(f"{stack.api}/demo/")
    tab.fill("#user-id", user)
    if staff:
        tab.check("#staff")
    tab.click("#sign-in-button")
    tab.wait_for_selector(f"text=Signed in as {user}")


def create_event(stack, name, price, capacity=10):
    response = requests.post(
        f"{stack.api}/api/events/",
        json={"name": name, "price": price, "currency": "usd", "capacity": capacity},
        headers=stack.headers("staff", staff=True),
        timeout=30,
    )
    return response.json()["event_id"]


def test_a_free_ticket_shows_its_qr_code(page, demo_stack):
    event_id = create_event(demo_stack, "Browser free gig", 0)
    sign_in(page, demo_stack)
    row = page.locator(f"li[data-event-id='{event_id}']")
    row.locator("button").click()
    page.wait_for_selector("text=Successfully purchased tickets")
    shot(page, "1-free-ticket")
    source = page.get_attribute("#ticket-qr", "src")
    code = page.text_content("#ticket-code")
    assert source.startswith("data:image/png;base64,")
    assert decode_qr(source.split(",", 1)[1]) in code


def test_a_paid_ticket_through_checkout_returns_to_the_success_page(page, demo_stack):
    event_id = create_event(demo_stack, "Browser paid gig", 18)
    sign_in(page, demo_stack)
    page.locator(f"li[data-event-id='{event_id}'] button").click()
    page.wait_for_selector("#pay")  # the local Stripe Checkout page
    shot(page, "2-checkout")
    page.click("#pay")
    page.wait_for_selector("text=Payment verified")
    shot(page, "3-payment-success")
    assert "/demo/payment/success" in page.url
    assert "Payment successful" in page.text_content("#result-title")
    assert decode_qr(page.get_attribute("#ticket-qr", "src").split(",", 1)[1]) in page.text_content("#ticket-code")


def test_an_abandoned_checkout_is_cancelled_from_the_cancel_page(page, demo_stack):
    event_id = create_event(demo_stack, "Browser abandoned gig", 18, capacity=3)
    sign_in(page, demo_stack)
    page.locator(f"li[data-event-id='{event_id}'] button").click()
    page.wait_for_selector("#cancel")
    page.click("#cancel")
    page.wait_for_selector("text=Reservation cancelled")
    shot(page, "4-payment-cancel")
    assert "/demo/payment/cancel" in page.url
    assert page.locator(f"li[data-event-id='{event_id}']").text_content().count("3 left") == 1


def test_staff_create_an_event_from_the_page(page, demo_stack):
    sign_in(page, demo_stack, user="browser-staff", staff=True)
    page.fill("#event-name", "Created in the browser")
    page.click("#new-event button")
    page.wait_for_selector("text=Created in the browser")
    shot(page, "5-staff-event")


def test_direct_stripe_and_paypal_payments(page, demo_stack):
    sign_in(page, demo_stack)
    page.click("#stripe-pay")
    page.wait_for_selector("text=Stripe payment succeeded")
    shot(page, "6-stripe-payment")
    page.click("#paypal-pay")
    page.wait_for_selector("#approve")  # the local PayPal approval page
    shot(page, "7-paypal-approval")
    page.click("#approve")
    page.wait_for_selector("text=PayPal payment captured")
    shot(page, "8-paypal-captured")
    assert "/demo/paypal/return" in page.url


def test_my_tickets_show_a_ticket_with_its_qr_code(page, demo_stack):
    event_id = create_event(demo_stack, "Browser my-tickets gig", 0)
    sign_in(page, demo_stack, user="browser-owner")
    page.locator(f"li[data-event-id='{event_id}'] button").click()
    page.wait_for_selector("text=Free ticket issued")
    ticket_id = page.text_content("#ticket-code").split("#", 1)[1].split(" ", 1)[0]
    mine = page.locator(f"#my-tickets li[data-ticket-id='{ticket_id}']")
    assert "paid" in mine.text_content()
    page.reload()  # the list comes from the API, not from the purchase just made
    page.locator(f"#my-tickets li[data-ticket-id='{ticket_id}'] button").click()
    page.wait_for_selector(f"text=Ticket #{ticket_id} (0 of 1 admitted)")
    shot(page, "9-my-ticket")
    code = page.text_content("#ticket-code").rsplit(" ", 1)[1]
    assert decode_qr(page.get_attribute("#ticket-qr", "src").split(",", 1)[1]) == code


def test_staff_check_in_at_the_door_admits_once_and_says_why_it_refuses(page, demo_stack):
    event_id = create_event(demo_stack, "Browser door gig", 0)
    other_door = create_event(demo_stack, "Browser other door", 0)
    bought = requests.post(
        f"{demo_stack.api}/api/payments/create-payment-intent/",
        json={"event_id": event_id, "quantity": 2},
        headers=demo_stack.headers("browser-guest"),
        timeout=30,
    ).json()
    sign_in(page, demo_stack, user="browser-door", staff=True)
    log = page.locator("#door-log li")

    def scan(code, door, entries):
        page.select_option("#check-in-event", str(door))
        page.fill("#check-in-code", code)
        page.click("#check-in button")
        page.wait_for_function(f"document.querySelectorAll('#door-log li').length === {entries}")
        return log.nth(0).text_content()

    # At another event's door the pass is refused, and the page says which event it is for
    assert scan(bought["ticket_code"], other_door, 1) == (
        f"Refused at event {other_door} (Browser other door): "
        f"Ticket is for event {event_id}, not event {other_door}: it does not admit anyone here"
    )
    # At its own door it admits everyone, once
    assert (
        scan(bought["ticket_code"], event_id, 2)
        == f"Admitted at event {event_id} (Browser door gig): ticket #{bought['ticket_id']}, 2 of 2 in"
    )
    assert "Already checked in: all 2 admitted (2 of 2 in at " in scan(bought["ticket_code"], event_id, 3)
    assert scan("not a code", event_id, 4).startswith(f"Refused at event {event_id} (Browser door gig): ticket_code: must be a ticket code")
    shot(page, "10-door-check-in")


def test_customers_see_no_door(page, demo_stack):
    sign_in(page, demo_stack, user="browser-customer")
    assert page.locator("#door").is_hidden()
