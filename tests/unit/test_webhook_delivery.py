"""The local providers deliver webhooks as Stripe and PayPal do: in no promised order, concurrently,
sometimes twice, a failed delivery retried later while the others go on; every choice from a seed."""

from __future__ import annotations

import json
import threading
import time

import pytest

from local.stripe_fake import StripeFake
from local.webhook_delivery import SEED_VARIABLE, Disorder, WebhookSender

SEED = 20261206  # any seed: the assertions hold for every one with 40 events (checked below for a few)


class Endpoint:
    """Records what arrives and how many deliveries overlapped; fails the events it is told to, once."""

    def __init__(self, fail_first: set[int] | None = None, pause: float = 0.02) -> None:
        self.arrived: list[int] = []
        self.fail_first = set(fail_first or ())
        self.pause = pause
        self.busy = self.most_busy = 0
        self._lock = threading.Lock()

    def __call__(self, payload: bytes, headers: dict[str, str]) -> int:
        number = json.loads(payload)["n"]
        with self._lock:
            self.busy += 1
            self.most_busy = max(self.most_busy, self.busy)
        time.sleep(self.pause)
        with self._lock:
            self.busy -= 1
            if number in self.fail_first:
                self.fail_first.discard(number)
                return 500
            self.arrived.append(number)
        return 200


def send_all(disorder: Disorder, endpoint: Endpoint, count: int = 40) -> WebhookSender:
    sender = WebhookSender("http://endpoint.invalid/", disorder, "test", endpoint)
    for number in range(count):
        sender.send(json.dumps({"n": number}).encode(), {"Content-Type": "application/json"})
    assert sender.drain(30)
    return sender


@pytest.mark.parametrize("seed", [SEED, 1, 77])
def test_events_arrive_out_of_order_concurrently_and_some_twice(seed):
    endpoint = Endpoint()
    send_all(Disorder(seed, max_delay=0.2), endpoint)
    assert set(endpoint.arrived) == set(range(40)), "every event arrives"
    assert endpoint.arrived != sorted(endpoint.arrived), "not in sending order"
    assert len(endpoint.arrived) > 40, "some events arrive twice"
    assert endpoint.most_busy > 1, "deliveries overlap"


def test_a_failed_delivery_is_retried_later_without_holding_back_the_others():
    endpoint = Endpoint(fail_first={0})
    sender = send_all(Disorder(SEED, max_delay=0.0, duplicate_rate=0.0, first_retry=0.5), endpoint, count=10)
    assert endpoint.arrived[-1] == 0, "the failed event comes last, after its retry"
    assert sorted(endpoint.arrived[:-1]) == list(range(1, 10))
    assert (0, 0, 500) in sender.log and (0, 1, 200) in sender.log


def test_the_seed_decides_every_choice(monkeypatch):
    same = [Disorder(SEED).plan("stripe", n) for n in range(50)]
    assert same == [Disorder(SEED).plan("stripe", n) for n in range(50)]
    assert same != [Disorder(SEED + 1).plan("stripe", n) for n in range(50)]
    assert any(len(plan.delays) == 2 for plan in same) and any(len(plan.delays) == 1 for plan in same)
    monkeypatch.setenv(SEED_VARIABLE, "4242")
    assert Disorder.from_environment().seed == 4242
    assert "WEBHOOK_DISORDER_SEED=4242" in Disorder.from_environment().describe()
    monkeypatch.setenv(SEED_VARIABLE, "12ab")
    with pytest.raises(ValueError, match="WEBHOOK_DISORDER_SEED"):
        Disorder.from_environment()
    monkeypatch.setenv(SEED_VARIABLE, "ordered")
    ordered = Disorder.from_environment()
    assert ordered.ordered and ordered.plan("stripe", 3).delays == (0.0,)


def test_ordered_delivers_one_at_a_time_in_order():
    endpoint = Endpoint()
    send_all(Disorder(None, workers=1), endpoint, count=15)
    assert endpoint.arrived == list(range(15)) and endpoint.most_busy == 1


def test_the_local_stripe_signs_each_delivery_anew() -> None:
    """Stripe signs every attempt with a new timestamp (docs.stripe.com/webhooks, replay
    prevention), so a retry hours later is not refused as too old."""
    seen: list[str] = []

    def endpoint(payload: bytes, headers: dict[str, str]) -> int:
        seen.append(headers["Stripe-Signature"])
        return 500 if len(seen) == 1 else 200

    fake = StripeFake(webhook_secret="whsec_test")
    fake.deliver_webhooks("http://endpoint.invalid/", endpoint, Disorder(SEED, max_delay=0.0, duplicate_rate=0.0, first_retry=2.2))
    fake.emit("customer.created", {"id": "cus_x", "object": "customer"})
    assert fake.drain_webhooks(10)
    assert len(seen) == 2 and seen[0].split(",")[0] != seen[1].split(",")[0]
