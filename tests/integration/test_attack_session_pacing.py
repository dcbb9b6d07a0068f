"""Attacks on the Checkout Session pacer (payments.domain.pacing, repositories.stripe_slots) as the
paid purchase uses it: never more than StripeSessionRate creations in any sliding second, a refused
purchase leaves nothing written (its slot given back), no 500."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from local.stripe_fake import StripeFake
from local.template import load_template
from payments import settings, wiring
from payments.domain.pacing import SessionPacer, candidate_slots, slots_per_second
from payments.domain.tickets import TicketService
from payments.dynamodb import get_client as dynamodb_client
from payments.errors import Busy
from payments.repositories.stripe_slots import StripeSlotRepository
from tests.support.clocks import VirtualClock
from tests.support.dynamo import TICKETS, scan
from tests.support.flows import buy, create_event, get_event

pytestmark = pytest.mark.usefixtures("dynamodb")


def slot_items(client: Any) -> list[dict[str, Any]]:
    return [item for item in scan(client, TICKETS) if str(item["pk"]).startswith("STRIPE#SLOT#")]


def tickets(client: Any) -> list[dict[str, Any]]:
    return [item for item in scan(client, TICKETS) if str(item["pk"]).startswith("TICKET#")]


def service_with(pacer: SessionPacer, monkeypatch: pytest.MonkeyPatch) -> TicketService:
    service = TicketService(
        wiring.ticket_repository(), wiring.stripe_gateway, settings.get_settings(), queue=wiring.queue_service, pacer=pacer
    )
    monkeypatch.setattr(wiring, "ticket_service", lambda: service)
    return service


def most_in_a_sliding_second(moments: list[float]) -> int:
    moments = sorted(moments)
    return max((sum(1 for other in moments if start <= other <= start + 1.0) for start in moments), default=0)


# refusals write nothing ----------------------------------------------------------------------


def test_sold_out_purchase_leaves_no_slot(stripe_fake: StripeFake, dynamodb: Any) -> None:
    event_id = create_event(capacity=1)
    assert buy(event_id, 1, user="user-a").status == 200
    slots = len(slot_items(dynamodb))
    refused = buy(event_id, 1, user="user-b")
    assert refused.status == 400, refused.body
    assert len(slot_items(dynamodb)) == slots


def test_over_the_unpaid_limit_leaves_no_slot(stripe_fake: StripeFake, dynamodb: Any) -> None:
    event_id = create_event(capacity=100)
    limit = settings.get_settings().unpaid_seat_limit
    statuses = [buy(event_id, min(10, limit), user="user-hoarder").status for _ in range(limit // min(10, limit) + 2)]
    assert 400 in statuses or 429 in statuses or 409 in statuses, statuses
    assert len(slot_items(dynamodb)) == statuses.count(200)


def test_paused_or_closed_purchase_leaves_no_slot(stripe_fake: StripeFake, dynamodb: Any) -> None:
    from tests.support.lambdas import call

    event_id = create_event(capacity=10)
    assert (
        call("update_event", {"sales_paused": True}, user="user-staff", groups="[staff]", path_params={"event_id": str(event_id)}).status
        == 200
    )
    assert buy(event_id, 1).status == 400
    assert slot_items(dynamodb) == []


def test_every_slot_taken_is_a_503_with_nothing_written(stripe_fake: StripeFake, dynamodb: Any) -> None:
    event_id = create_event(capacity=10)
    per_second = slots_per_second(settings.get_settings().stripe_session_rate_per_second)
    repository = StripeSlotRepository(dynamodb_client(), TICKETS)
    now = time.time()
    for slot in range(math.floor(now * per_second), math.floor((now + 5) * per_second) + 1):
        repository.claim(slot, int(now) + 600)
    before = scan(dynamodb, TICKETS)
    refused = buy(event_id, 1)
    assert refused.status == 503, refused.body
    assert refused.headers.get("Retry-After") == "1"
    assert tickets(dynamodb) == []
    assert get_event(event_id)["available"] == 10
    assert len(scan(dynamodb, TICKETS)) == len(before)
    assert not stripe_fake.sessions


def test_busy_when_the_slot_outlived_its_reservation_writes_nothing(
    stripe_fake: StripeFake, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    event_id = create_event(capacity=5)
    clock = VirtualClock(1_000_000.0)
    slots = StripeSlotRepository(dynamodb_client(), TICKETS)
    service_with(SessionPacer(slots, rate=2, clock=clock, sleep=clock.sleep), monkeypatch)
    repository = wiring.ticket_repository()
    real_create = repository.create

    def slow_create(*args: Any, **kwargs: Any) -> Any:
        created = real_create(*args, **kwargs)
        clock.now += 5.0  # the reservation outlasted its slot (retries, a cold dependency)
        for slot in candidate_slots(clock.now, 1, lead=0.0):
            slots.claim(slot, int(clock.now) + 600)  # and every slot ready() could take is taken
        return created

    monkeypatch.setattr(repository, "create", slow_create)
    refused = buy(event_id, 1)
    monkeypatch.setattr(repository, "create", real_create)
    assert refused.status == 503, refused.body
    assert not stripe_fake.sessions
    assert [item["status"] for item in tickets(dynamodb) if item["status"] == "reserved"] == []
    assert get_event(event_id)["available"] == 5


def test_failure_drawing_the_ticket_id_gives_the_slot_back(stripe_fake: StripeFake, dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    event_id = create_event(capacity=5)
    repository = wiring.ticket_repository()
    wiring.ticket_service()  # built with the real pacer

    def failing_next_id(kind: str) -> int:
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "UpdateItem")

    monkeypatch.setattr(repository, "next_id", failing_next_id)
    refused = buy(event_id, 1)
    assert refused.status == 503, refused.body
    assert slot_items(dynamodb) == []


def test_stripe_failure_after_the_slot_releases_the_seat(stripe_fake: StripeFake, dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from payments.errors import ProviderUnavailable

    event_id = create_event(capacity=3)
    gateway = wiring.stripe_gateway()

    def failing(**kwargs: Any) -> Any:
        raise ProviderUnavailable("Stripe is down")

    monkeypatch.setattr(gateway, "create_checkout_session", failing)
    result = buy(event_id, 2)
    assert result.status in (502, 503), result.body
    assert get_event(event_id)["available"] == 3


# the rate ------------------------------------------------------------------------------------


def test_sessions_never_exceed_the_rate_in_a_sliding_second(stripe_fake: StripeFake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_SESSION_RATE_PER_SECOND", "3")
    wiring.reset()
    event_id = create_event(capacity=50)
    gateway = wiring.stripe_gateway()
    real = gateway.create_checkout_session
    moments: list[float] = []

    def timed(**kwargs: Any) -> Any:
        moments.append(time.time())
        return real(**kwargs)

    monkeypatch.setattr(gateway, "create_checkout_session", timed)
    statuses = [buy(event_id, 1, user=f"user-{n}").status for n in range(8)]
    assert statuses.count(200) + statuses.count(503) == 8, statuses
    assert len(moments) == statuses.count(200) >= 6
    assert most_in_a_sliding_second(moments) <= 3, moments


def test_bunched_purchases_in_virtual_time_keep_the_rate(stripe_fake: StripeFake, monkeypatch: pytest.MonkeyPatch) -> None:
    """Purchases arriving together (the clock does not move between their claims) each get a slot
    of their own; their calls, made when their slots start, stay within the rate."""
    event_id = create_event(capacity=100)
    clock = VirtualClock(2_000_000.3)
    pacer = SessionPacer(StripeSlotRepository(dynamodb_client(), TICKETS), rate=5, clock=clock, sleep=lambda seconds: None)
    claimed = []
    for _ in range(12):
        try:
            claimed.append(pacer.claim())
        except Busy:
            break
    assert len({slot.number for slot in claimed}) == len(claimed)
    starts = [slot.starts_at for slot in claimed]
    assert most_in_a_sliding_second(starts) <= 5
    assert all(clock.now < start <= clock.now + 1.0 for start in starts)
    assert get_event(event_id)["available"] == 100


def test_a_rate_of_one_is_refused_where_it_is_set(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # At 1 a second a slot is a whole second with no margin: a call late in its slot and the next
    # slot's call would fall within 0.5 s. So the rate is at least 2 wherever it can be set.
    with pytest.raises(ValueError):
        SessionPacer(StripeSlotRepository(dynamodb_client(), TICKETS), rate=1)
    monkeypatch.setenv("STRIPE_SESSION_RATE_PER_SECOND", "1")
    settings.get_settings.cache_clear()
    try:
        with pytest.raises(ValidationError, match=r"(?i)stripe_session_rate_per_second"):
            settings.get_settings()
    finally:
        monkeypatch.undo()
        settings.get_settings.cache_clear()
    assert load_template()["Parameters"]["StripeSessionRate"]["MinValue"] == 2
