"""Shared fixtures: moto DynamoDB built from template.yaml, the local Stripe on a loopback port,
and the layer's per-container caches cleared between tests."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator

import boto3
import pytest
from moto import mock_aws

from local.paypal_fake import PayPalFake
from local.stripe_fake import StripeFake
from local.template import create_tables
from tests.support.servers import serve

TABLES = {"TicketsTable": "test-tickets", "PaymentsTable": "test-payments", "IdempotencyTable": "test-idempotency"}
STRIPE_KEY = "sk_test_local_only_51ExampleKey"
WEBHOOK_SECRET = "whsec_test_local_only"

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "POWERTOOLS_SERVICE_NAME": "payments-api-test",
        "POWERTOOLS_METRICS_NAMESPACE": "PaymentsApiTest",
        "TICKETS_TABLE": TABLES["TicketsTable"],
        "PAYMENTS_TABLE": TABLES["PaymentsTable"],
        "FRONTEND_URL": "http://localhost:5173",
        "STRIPE_SECRET_KEY": STRIPE_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_MAX_NETWORK_RETRIES": "0",
        "STRIPE_RETRY_BUDGET_SECONDS": "1",
        "IDEMPOTENCY_TABLE": TABLES["IdempotencyTable"],
    }
)


def clear_container_caches() -> None:
    """What a fresh Lambda container would start with."""
    from payments import wiring

    wiring.reset()


@pytest.fixture(scope="session")
def stripe_fake_server() -> Iterator[tuple[StripeFake, str]]:
    fake = StripeFake()
    with serve(fake) as url:
        fake.public_url = url
        yield fake, url


@pytest.fixture
def stripe_fake(stripe_fake_server: tuple[StripeFake, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[StripeFake]:
    fake, url = stripe_fake_server
    fake.reset()
    monkeypatch.setenv("STRIPE_API_BASE", url)
    clear_container_caches()
    yield fake
    fake.wait_idle()


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        create_tables(client, TABLES)
        clear_container_caches()
        yield client
    clear_container_caches()


@pytest.fixture(scope="session")
def paypal_fake_server() -> Iterator[tuple[PayPalFake, str]]:
    fake = PayPalFake()
    with serve(fake) as url:
        fake.public_url = url
        yield fake, url


@pytest.fixture
def paypal_fake(paypal_fake_server: tuple[PayPalFake, str], monkeypatch: pytest.MonkeyPatch) -> PayPalFake:
    fake, url = paypal_fake_server
    fake.reset()
    monkeypatch.setenv("PAYPAL_API_BASE", url)
    monkeypatch.setenv("PAYPAL_CLIENT_ID", fake.client_id)
    monkeypatch.setenv("PAYPAL_CLIENT_SECRET", fake.client_secret)
    monkeypatch.setenv("PAYPAL_WEBHOOK_ID", fake.webhook_id)
    monkeypatch.setenv("PAYPAL_CERTIFICATE_ROOTS", fake.certificate_roots_pem)
    monkeypatch.setenv("PAYPAL_RETRY_BUDGET_SECONDS", "1")
    clear_container_caches()
    return fake


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from tests.support import proof

    proof.write()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Each phase's report on the test item (``rep_call``), for fixtures that count outcomes."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
