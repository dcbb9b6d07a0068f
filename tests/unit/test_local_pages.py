"""The pages the local stack shows a person: a home page at GET /, and the local Checkout page with its
amount in major units, as the buyer reads it."""

import html
import socket
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from local.functions import load_app
from local.gateway import LocalGateway
from local.jwt_keys import LocalAuthority
from local.pages import browser_return, returned_page
from local.stripe_fake import StripeFake
from local.stripe_fake.checkout import page, submit
from local.stripe_fake.objects import ZERO_DECIMAL_CURRENCIES, major_units
from local.template import load_template
from payments.money import STRIPE_ZERO_DECIMAL


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (2500, "usd", "25.00 USD"),
        (2999, "eur", "29.99 EUR"),
        (5000, "jpy", "5,000 JPY"),
        (1250, "kwd", "1.250 KWD"),
        (45000, "isk", "450 ISK"),
        (123456789, "gbp", "1,234,567.89 GBP"),
    ],
)
def test_an_amount_in_stripes_minor_units_reads_in_major_units_with_the_currencys_decimals(amount, currency, shown):
    assert major_units(amount, currency) == shown


def test_the_local_stripe_knows_the_zero_decimal_currencies_the_api_charges_in():
    assert set(STRIPE_ZERO_DECIMAL) == ZERO_DECIMAL_CURRENCIES


def test_the_local_checkout_page_shows_a_25_usd_ticket_as_25_00_usd():
    fake = StripeFake()
    fake.sessions["cs_test_page"] = {"amount_total": 2500, "currency": "usd", "status": "open"}
    request = Request(EnvironBuilder(path="/checkout/pay/cs_test_page").get_environ())
    shown = page(fake, request, "cs_test_page").get_data(as_text=True)
    assert '<p class="amount" id="amount">25.00 USD</p>' in shown
    assert "minor units" not in shown and "2500" not in shown
    assert 'id="pay"' in shown and 'id="cancel"' in shown  # what the browser tests press


def test_get_slash_is_a_page_linking_the_reference_the_demo_and_the_token_command():
    authority = LocalAuthority(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    gateway = LocalGateway(load_app(load_template(), {}, {}), authority, log=lambda line: None)
    answer = gateway.handle(Request(EnvironBuilder(method="GET", path="/").get_environ()))
    assert answer.status_code == 200 and answer.mimetype == "text/html"
    body = answer.get_data(as_text=True)
    for link in ('href="/docs"', 'href="/demo/"', 'href="/openapi.yaml"', "make token USER_ID=alice"):
        assert link in body
    # Only the root: any other unknown path is still a 404.
    assert gateway.handle(Request(EnvironBuilder(method="GET", path="/nothing-here").get_environ())).status_code == 404


# Back from a provider to a frontend that does not run -------------------------------------------


def nothing_listens() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def browser(accept: str = "text/html,application/xhtml+xml,*/*;q=0.8", data: dict[str, str] | None = None) -> Request:
    return Request(EnvironBuilder(method="POST", headers=[("Accept", accept)], data=data).get_environ())


EXPLAINED = "http://127.0.0.1:3000/_local/returned"


def test_a_persons_browser_is_told_what_happened_when_no_frontend_answers_the_return_address():
    target = f"http://localhost:{nothing_listens()}/payment/success?session_id=cs_test_1&ticket_id=7"
    assert browser_return(browser(), target, EXPLAINED) == f"{EXPLAINED}?to={quote(target, safe='')}"


def test_programs_and_running_frontends_get_the_return_address_itself():
    dead = f"http://localhost:{nothing_listens()}/payment/success?session_id=cs_test_1&ticket_id=7"
    assert browser_return(browser(accept="*/*"), dead, EXPLAINED) == dead  # requests, curl: they read the Location
    assert browser_return(browser(), dead, None) == dead  # under sam local: no page to send it to
    with socket.socket() as frontend:
        frontend.bind(("127.0.0.1", 0))
        frontend.listen()
        alive = f"http://127.0.0.1:{frontend.getsockname()[1]}/payment/success?session_id=cs_test_1&ticket_id=7"
        assert browser_return(browser(), alive, EXPLAINED) == alive


def test_the_page_names_the_call_the_frontend_would_make():
    success = returned_page("http://localhost:5173/payment/success?session_id=cs_test_1&ticket_id=7")
    assert "POST /api/payments/verify/" in success
    assert html.escape('{"session_id": "cs_test_1", "ticket_id": 7}') in success
    cancel = returned_page("http://localhost:5173/payment/cancel?ticket_id=7")
    assert "POST /api/payments/cancel/" in cancel and html.escape('{"ticket_id": 7}') in cancel
    approved = returned_page("http://localhost:5173/paypal/return?token=5O190127TN364715T&PayerID=X")
    assert "POST /api/v1/payments/paypal/capture-order/" in approved and "5O190127TN364715T" in approved
    assert 'href="javascript' not in returned_page("javascript:alert(1)")  # only http(s) addresses become links


def test_leaving_the_local_checkout_page_without_a_frontend_lands_on_that_page():
    fake = StripeFake()
    fake.explained_returns = EXPLAINED
    cancel = f"http://localhost:{nothing_listens()}/payment/cancel?ticket_id=7"
    fake.sessions["cs_test_left"] = {"amount_total": 2500, "currency": "usd", "status": "open", "cancel_url": cancel}
    left = submit(fake, browser(data={"action": "cancel"}), "cs_test_left")
    assert left.status_code == 303 and left.headers["Location"] == f"{EXPLAINED}?to={quote(cancel, safe='')}"


def test_the_local_stack_serves_the_page():
    authority = LocalAuthority(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    gateway = LocalGateway(load_app(load_template(), {}, {}), authority, log=lambda line: None)
    to = quote("http://localhost:5173/payment/cancel?ticket_id=7", safe="")
    answer = gateway.handle(Request(EnvironBuilder(method="GET", path="/_local/returned", query_string=f"to={to}").get_environ()))
    assert answer.status_code == 200 and "POST /api/payments/cancel/" in answer.get_data(as_text=True)
