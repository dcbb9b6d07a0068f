"""Shared fixtures: moto DynamoDB built from template.yaml, the local Stripe on a loopback port,
and the layer's per-container caches cleared between tests."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Generator, Iterator

import boto3
import pytest
from hypothesis import settings as hypothesis_settings
from moto import mock_aws

from local import moto_patches
from local.paypal_fake import PayPalFake
from local.stripe_fake import StripeFake
from local.template import create_tables
from local.webhook_delivery import SEED_VARIABLE, default_disorder
from tests.support.inspection import Inspection
from tests.support.openapi import PAYPAL_TALLY
from tests.support.servers import serve
from tests.support.stripe_schemas import TALLY as STRIPE_TALLY

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
        "QUEUE_PASS_KEY": "queue-pass-key-local-only",
    }
)

# One webhook disorder seed per run, printed in the header and inherited by every local stack the
# run starts, so that WEBHOOK_DISORDER_SEED=<printed seed> replays a failing run's deliveries.
if not default_disorder().ordered:
    os.environ[SEED_VARIABLE] = str(default_disorder().seed)


# Hypothesis holds each example to 200 ms of wall clock by default: on a shared machine an example
# the scheduler paused fails as "flaky", whatever the code did. No deadline; a test for which speed
# is the point measures the work's own CPU time (tests/unit/test_number_bounds.py).
hypothesis_settings.register_profile("suite", deadline=None)
hypothesis_settings.load_profile("suite")


def pytest_report_header(config: pytest.Config) -> str:
    return f"local providers: {default_disorder().describe()}"


def expiring_token(value: object) -> bool:
    """A JWT with an expiry (the shape of the local issuer's and of forged test tokens)."""
    if not isinstance(value, str) or value.count(".") != 2:
        return False
    try:
        claims = json.loads(base64.urlsafe_b64decode(value.split(".")[1] + "=" * (-len(value.split(".")[1]) % 4)))
    except ValueError:
        return False
    return isinstance(claims, dict) and "exp" in claims


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # No test may depend on how long the tests before it took: a token made while the tests are
    # collected starts expiring then (one with a 10-minute expiry failed a run that reached it at
    # 11 minutes). Tests take a factory and make their token when they run.
    for item in items:
        callspec = getattr(item, "callspec", None)
        for name, value in callspec.params.items() if callspec else ():
            if expiring_token(value):
                raise pytest.UsageError(
                    f"{item.nodeid}: parameter {name!r} is a token made at collection time, which expires while "
                    "the suite runs; pass a function that makes it when the test runs"
                )


def clear_container_caches() -> None:
    """What a fresh Lambda container would start with."""
    from payments import wiring

    wiring.reset()


def fail_on_new_problems(tally: Inspection, seen: int, provider: str) -> None:
    """A test fails when the fake it used said anything its provider's definitions do not allow."""
    found = tally.problems[seen:]
    if found:
        pytest.fail(f"the local {provider} departed from {provider}'s own definitions:\n" + "\n".join(found[:20]), pytrace=False)


@pytest.fixture(scope="session")
def stripe_fake_server() -> Iterator[tuple[StripeFake, str]]:
    fake = StripeFake()
    fake.inspector = STRIPE_TALLY
    with serve(fake) as url:
        fake.public_url = url
        yield fake, url


@pytest.fixture
def stripe_fake(stripe_fake_server: tuple[StripeFake, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[StripeFake]:
    fake, url = stripe_fake_server
    fake.reset()
    monkeypatch.setenv("STRIPE_API_BASE", url)
    clear_container_caches()
    seen = len(STRIPE_TALLY.problems)
    yield fake
    fake.wait_idle()
    fail_on_new_problems(STRIPE_TALLY, seen, "Stripe")


# moto's transactions refuse what DynamoDB's do (local/moto_patches.py), in every test.
moto_patches.install_fidelity()


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
    fake.inspector = PAYPAL_TALLY
    with serve(fake) as url:
        fake.public_url = url
        yield fake, url


@pytest.fixture
def paypal_fake(paypal_fake_server: tuple[PayPalFake, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[PayPalFake]:
    fake, url = paypal_fake_server
    fake.reset()
    monkeypatch.setenv("PAYPAL_API_BASE", url)
    monkeypatch.setenv("PAYPAL_CLIENT_ID", fake.client_id)
    monkeypatch.setenv("PAYPAL_CLIENT_SECRET", fake.client_secret)
    monkeypatch.setenv("PAYPAL_WEBHOOK_ID", fake.webhook_id)
    monkeypatch.setenv("PAYPAL_CERTIFICATE_ROOTS", fake.certificate_roots_pem)
    monkeypatch.setenv("PAYPAL_RETRY_BUDGET_SECONDS", "1")
    clear_container_caches()
    seen = len(PAYPAL_TALLY.problems)
    yield fake
    fake.wait_idle()
    fail_on_new_problems(PAYPAL_TALLY, seen, "PayPal")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for tally in (STRIPE_TALLY, PAYPAL_TALLY):
        if any(tally.counts.values()):
            terminalreporter.write_line(tally.summary())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from tests.support import proof

    proof.write()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Each phase's report on the test item (``rep_call``), for fixtures that count outcomes."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
