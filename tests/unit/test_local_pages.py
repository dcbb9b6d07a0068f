"""The pages the local stack shows a person: a home page at GET /, and the local Checkout page with its
amount in major units, as the buyer reads it."""

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from local.functions import load_app
from local.gateway import LocalGateway
from local.jwt_keys import LocalAuthority
from local.stripe_fake import StripeFake
from local.stripe_fake.checkout import page
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
