"""What each function loads when its container starts, from the sources (``make bench`` measures the
same on the built layer, with timings): no provider SDK it does not talk to, and none of the heavy
modules that only a request needing them may load."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from benchmarks.cold_start import LAZY, PROBE, WATCHED, provider_of, run_python
from local.template import ROOT, load_template, resources_of_type

FUNCTIONS = resources_of_type(load_template(), "AWS::Serverless::Function")


@pytest.fixture(scope="module")
def loaded() -> dict[str, list[str]]:
    probe = f"WATCHED = {WATCHED!r}\n{PROBE}"

    def modules_of(name: str) -> list[str]:
        code = ROOT / FUNCTIONS[name]["Properties"]["CodeUri"]
        _, output = run_python(probe, [code, ROOT / "layers" / "shared"], code)
        return list(json.loads(output)["modules"])

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(FUNCTIONS, pool.map(modules_of, FUNCTIONS), strict=True))


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_a_function_loads_only_the_provider_sdk_it_talks_to_and_nothing_lazy(loaded, name):
    provider = provider_of(FUNCTIONS[name])
    modules = set(loaded[name])
    assert ("stripe" in modules) == (provider == "stripe"), modules
    assert "requests" not in modules or provider != "none", modules
    assert not modules & set(LAZY), modules


# The handlers that read or write an event or a ticket, never a buyer's place or a queue's state: the
# on-sale queue's modules (its admission policy, its passes) are not theirs to load at cold start (issue 31: about a tenth of
# such a function's own share was the queue's import, through the presenters' type names).
QUEUE_MODULES = ("payments.domain.queue", "payments.domain.admission")
WITHOUT_THE_QUEUE = (
    "CreateEventFunction",
    "EnableEventQueueFunction",
    "GetEventFunction",
    "GetTicketFunction",
    "ListEventsFunction",
    "ListMyTicketsFunction",
    "UpdateEventFunction",
)


@pytest.mark.parametrize("name", WITHOUT_THE_QUEUE)
def test_the_event_and_ticket_readers_do_not_load_the_queue(name):
    code = ROOT / FUNCTIONS[name]["Properties"]["CodeUri"]
    _, output = run_python(f"WATCHED = {QUEUE_MODULES!r}\n{PROBE}", [code, ROOT / "layers" / "shared"], code)
    assert json.loads(output)["modules"] == []
