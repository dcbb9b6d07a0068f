"""The cold-start benchmark's seeds (``benchmarks.cold_start_seeds``, issue 31): every HTTP function of
the template has one or is declared to need none, and with it the function's first request, its
sample event as the benchmark sends it, is a real answer (2xx), not a 404 against empty tables."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.cold_start import ROW_ENVIRONMENT, sample_event
from benchmarks.cold_start_seeds import NEEDS_NOTHING, Seeds
from local.template import load_template, resources_of_type
from tests.support.lambdas import LambdaContext, invoke, load_module

RESOURCES = {
    Path(resource["Properties"]["CodeUri"]).name: resource
    for resource in resources_of_type(load_template(), "AWS::Serverless::Function").values()
}
HTTP_FUNCTIONS = sorted(
    function
    for function, resource in RESOURCES.items()
    if any(trigger.get("Type") == "HttpApi" for trigger in resource["Properties"].get("Events", {}).values())
)


@pytest.fixture
def seeds(dynamodb: Any, stripe_fake: Any, paypal_fake: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Seeds]:
    # Seeds quiets the layer through the environment: set here first, so that the test puts it back.
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "ERROR")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    seeded = Seeds(dict(os.environ), stripe_fake, paypal_fake)
    seeded.new_round()
    yield seeded


def test_the_template_has_http_functions_to_seed() -> None:
    assert len(HTTP_FUNCTIONS) >= 25 and "join_event_queue" in HTTP_FUNCTIONS


def test_every_http_function_has_a_seed_or_is_declared_to_need_none(seeds: Seeds) -> None:
    unseeded = [function for function in HTTP_FUNCTIONS if function not in seeds.preparers and function not in NEEDS_NOTHING]
    assert unseeded == [], f"no seed for the first request of {unseeded}: add a preparer to benchmarks/cold_start_seeds.py"
    # Nothing seeded or declared that the template does not have (a renamed function keeps no stale seed).
    assert NEEDS_NOTHING.issubset(HTTP_FUNCTIONS)
    assert set(seeds.preparers).issubset(RESOURCES)
    assert not set(seeds.preparers) & NEEDS_NOTHING


@pytest.mark.parametrize("function", HTTP_FUNCTIONS)
def test_a_seeded_first_request_is_a_real_answer(seeds: Seeds, function: str) -> None:
    event = seeds.prepare(function, sample_event(RESOURCES[function], ""))
    result = invoke(function, event)
    assert 200 <= result.status < 300, (result.status, result.body)


def test_the_admitters_first_step_admits_the_one_seeded_buyer(seeds: Seeds, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two runs: the second steps its own queue only (the first run's is off the registry), as every
    # round of the benchmark does; its one step (the row's setting) admits the buyer seeded for it.
    for name, value in ROW_ENVIRONMENT["AdmitEventQueuesFunction"].items():
        monkeypatch.setenv(name, value)
    for _ in range(2):
        event = seeds.prepare("admit_event_queues", sample_event(RESOURCES["admit_event_queues"], ""))
        from payments import wiring

        wiring.reset()
        report = load_module("admit_event_queues").lambda_handler(event, LambdaContext(function_name="admit_event_queues"))
        assert (report["ticks"], report["active"], report["admitted"], report["failures"]) == (1, 1, 1, 0), report
