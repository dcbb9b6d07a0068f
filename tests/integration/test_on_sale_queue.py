"""The on-sale queue through the handlers (moto, the local Stripe): joining, polling, the admitter,
and the reservation path of a queued event (issue 27)."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from payments import dynamodb, wiring
from tests.support.dynamo import TICKETS, SerialisedClient, Unprocessing, items_with_prefix, scan
from tests.support.flows import STAFF, buy, cancel, create_event, get_event
from tests.support.lambdas import ApiResult, LambdaContext, call, load_module, sample_event
from tests.support.queues import frozen_time, queue_settings


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    return frozen_time(monkeypatch)


@pytest.fixture
def queue_env(monkeypatch: pytest.MonkeyPatch, dynamodb: Any, stripe_fake: Any) -> Any:
    queue_settings(monkeypatch, QUEUE_ADMISSION_WINDOW_SECONDS="600")
    return dynamodb


def queued_event(capacity: int = 100, price: Any = 25) -> int:
    body = {"name": "Stadium On-Sale", "price": price, "currency": "usd", "capacity": capacity, "on_sale_queue": True}
    result = call("create_event", body, user="user-staff", groups=STAFF)
    assert result.status == 201, result.body
    assert result.body["on_sale_queue"] is True
    return int(result.body["event_id"])


def join(event_id: int, user: str) -> ApiResult:
    return call("join_event_queue", path_params={"event_id": str(event_id)}, user=user)


def poll(event_id: int, user: str) -> ApiResult:
    return call("get_event_queue_place", path_params={"event_id": str(event_id)}, user=user)


def purchase(event_id: int, user: str, queue_pass: str | None, quantity: int = 1) -> ApiResult:
    body: dict[str, Any] = {"event_id": event_id, "quantity": quantity}
    if queue_pass is not None:
        body["queue_pass"] = queue_pass
    return call("create_ticket_checkout", body, user=user)


def admit(clock: list[float], seconds: float = 1.0) -> None:
    clock[0] += seconds
    wiring.queue_service().admit_once()


def buyer_item(client: Any, event_id: int, user: str) -> dict[str, Any]:
    [item] = items_with_prefix(client, TICKETS, f"QUEUE#{event_id}#BUYER#{user}")
    return item


def nothing_written(client: Any, event_id: int, before: list[dict[str, Any]]) -> None:
    assert scan(client, TICKETS) == before
    assert items_with_prefix(client, TICKETS, "TICKET#") == []


# events without the queue ---------------------------------------------------------------------------
def test_an_event_without_the_queue_sells_as_the_seed_says_and_has_no_queue(queue_env, stripe_fake, clock):
    event_id = create_event(price=25, capacity=10)
    assert get_event(event_id)["on_sale_queue"] is False
    bought = buy(event_id, 2)
    assert bought.status == 200 and set(bought.body) >= {"checkout_url", "session_id", "ticket_id", "ticket_code"}
    assert (join(event_id, "user-bob").status, join(event_id, "user-bob").body) == (404, {"error": "This event has no queue: buy directly"})
    assert items_with_prefix(queue_env, TICKETS, "QUEUE") == []


def test_the_queue_field_is_a_boolean(queue_env):
    body = {"name": "x", "price": 25, "currency": "usd", "capacity": 5, "on_sale_queue": "yes"}
    result = call("create_event", body, user="user-staff", groups=STAFF)
    assert result.status == 400 and result.body["error"].startswith("on_sale_queue:")


def enable(event_id: int, user: str = "user-staff", groups: str = STAFF) -> ApiResult:
    return call("enable_event_queue", path_params={"event_id": str(event_id)}, user=user, groups=groups)


def test_staff_enable_the_queue_before_the_sale_opens(queue_env, stripe_fake, clock):
    event_id = create_event(price=25, capacity=10, seat_shards=2)
    assert (enable(event_id, user="user-alice", groups="[customers]").status) == 403
    enabled = enable(event_id)
    assert enabled.status == 200 and enabled.body["on_sale_queue"] is True and enabled.body["available"] == 10
    assert get_event(event_id)["on_sale_queue"] is True
    assert (enable(event_id).status, enable(event_id).body["on_sale_queue"]) == (200, True)  # again: as it is
    # From now on only admitted buyers reserve.
    assert purchase(event_id, "user-alice", None).status == 403
    join(event_id, "user-alice")
    admit(clock)
    assert purchase(event_id, "user-alice", poll(event_id, "user-alice").body["queue_pass"]).status == 200


def test_a_queue_cannot_be_enabled_once_the_sale_has_begun(queue_env, stripe_fake, clock):
    event_id = create_event(price=25, capacity=10)
    assert buy(event_id, 1).status == 200
    before = scan(queue_env, TICKETS)
    refused = enable(event_id)
    assert (refused.status, refused.body) == (
        409,
        {"error": "The sale has begun (1 of 10 seats taken): a queue can be enabled only before it"},
    )
    assert scan(queue_env, TICKETS) == before
    assert (enable(404404).status, enable(404404).body) == (404, {"error": "Event not found"})


def test_a_seat_taken_on_any_shard_means_the_sale_has_begun(queue_env, stripe_fake, clock, monkeypatch):
    event_id = create_event(price=25, capacity=10, seat_shards=2)
    monkeypatch.setattr(secrets, "randbelow", lambda n: n - 1)  # the purchase looks from the last shard
    assert buy(event_id, 1).status == 200
    [ticket] = items_with_prefix(queue_env, TICKETS, "TICKET#")
    assert ticket["seat_parts"] == {"1": 1}  # the event's own item (shard 0) is untouched
    before = scan(queue_env, TICKETS)
    assert enable(event_id).status == 409
    assert scan(queue_env, TICKETS) == before


# joining ------------------------------------------------------------------------------------------------
def test_joining_twice_answers_the_same_place_and_writes_nothing_the_second_time(queue_env, clock, monkeypatch):
    """The first join is audited (who joined which event's queue, at which place); the second is not."""
    from payments.domain import queue

    audited = []
    monkeypatch.setattr(queue, "audit", lambda action, **fields: audited.append((action, fields)))
    event_id = queued_event()
    first = join(event_id, "user-alice")
    assert first.status == 200 and first.headers["Cache-Control"] == "no-store"
    assert first.body["status"] == "waiting" and first.body["admitted_to"] == 0
    assert first.body["estimated_wait_seconds"] == 1  # one place at 25 a second
    before = scan(queue_env, TICKETS)
    again = join(event_id, "user-alice")
    assert again.body["place"] == first.body["place"]
    assert scan(queue_env, TICKETS) == before
    assert audited == [("queue.joined", {"user_id": "user-alice", "event_id": event_id, "place": first.body["place"]})]


def test_a_join_whose_other_tab_joined_between_its_read_and_its_claim_answers_that_place_and_is_no_new_join(queue_env, clock, monkeypatch):
    """Two tabs of one account join at once: the one whose claim loses to the other's answers the
    place the other drew, and only the join that drew it is audited (one account, one join)."""
    from payments.domain import queue
    from payments.repositories import queue as queue_repository

    audited = []
    monkeypatch.setattr(queue, "audit", lambda action, **fields: audited.append((action, fields)))
    event_id = queued_event()
    original = queue_repository.QueueRepository._get
    other_tab = []

    def read_then_the_other_tab_joins(self, key, consistent=True):
        item = original(self, key, consistent)
        if key == queue_repository.buyer_key(event_id, "user-alice") and not other_tab:
            other_tab.append(None)
            other_tab[0] = join(event_id, "user-alice")  # the other tab's whole join, between this read and this claim
        return item

    monkeypatch.setattr(queue_repository.QueueRepository, "_get", read_then_the_other_tab_joins)
    first = join(event_id, "user-alice")
    assert (first.status, other_tab[0].status) == (200, 200)
    assert first.body["place"] == other_tab[0].body["place"]
    assert audited == [("queue.joined", {"user_id": "user-alice", "event_id": event_id, "place": first.body["place"]})]


def test_places_follow_arrival_order_within_a_few_rounds_of_the_counters(queue_env, clock):
    """Places come from 8 counters, each join taking from the one behind of two drawn: the counters
    stay within two or three places of each other, so buyers are in arrival order but for the joins
    of the last few rounds (24 joins: the counters' draw among near-ties), however long the queue."""
    event_id = queued_event()
    places = [join(event_id, f"user-{number}").body["place"] for number in range(60)]
    assert len(set(places)) == 60
    rank = {place: position for position, place in enumerate(sorted(places))}
    displacement = [abs(rank[place] - arrival) for arrival, place in enumerate(places)]
    assert max(displacement) < 24, displacement
    # Two buyers three rounds (24 joins) apart are always in order.
    assert all(places[early] < places[late] for early in range(60) for late in range(early + 24, 60))


def test_a_poll_reads_only_and_may_be_kept_a_second(queue_env, clock):
    event_id = queued_event()
    joined = join(event_id, "user-alice")
    admit(clock)  # the admitter's first step writes the state's copies
    operations: list[str] = []
    client = dynamodb.get_client()
    client.meta.events.register("before-call.dynamodb.*", lambda model, **_: operations.append(model.name))
    polled = poll(event_id, "user-alice")
    assert polled.status == 200 and polled.headers["Cache-Control"] == "private, max-age=1"
    assert polled.body["place"] == joined.body["place"] and polled.body["status"] == "admitted"
    # The buyer's item and a copy of the state: never the event's item nor its seat shards.
    assert operations == ["GetItem", "GetItem"], operations
    assert (poll(event_id, "user-bob").status, poll(event_id, "user-bob").body) == (
        404,
        {"error": "You have not joined this event's queue"},
    )
    assert (poll(999, "user-alice").status, poll(999, "user-alice").body) == (404, {"error": "Event not found"})


def keys_read(operations: list[tuple[str, Any]]) -> list[str]:
    return [params["Key"]["pk"]["S"] for name, params in operations if name == "GetItem"]


def record_requests(client: Any) -> list[tuple[str, Any]]:
    operations: list[tuple[str, Any]] = []
    client.meta.events.register("provide-client-params.dynamodb.*", lambda params, model, **_: operations.append((model.name, params)))
    return operations


@pytest.mark.parametrize("how", ["created", "enabled"])
def test_the_states_copies_are_written_with_the_queue_so_no_join_reads_the_state_itself(queue_env, stripe_fake, clock, how):
    """Before the admitter's first step, every join and poll reads a copy of the queue's state, never
    its own key (the opening second's joins would all read that one key, 3,000 units a second)."""
    from payments.repositories.queue import VIEW_COPIES

    if how == "created":
        event_id = queued_event(capacity=64)
    else:
        event_id = create_event(price=25, capacity=64, seat_shards=64)  # the largest transaction: 64 shards
        assert enable(event_id).status == 200
    copies = items_with_prefix(queue_env, TICKETS, f"QUEUE#{event_id}#VIEW#")
    assert sorted(item["pk"] for item in copies) == sorted(f"QUEUE#{event_id}#VIEW#{copy}" for copy in range(VIEW_COPIES))
    [state] = [item for item in items_with_prefix(queue_env, TICKETS, f"QUEUE#{event_id}") if item["pk"] == f"QUEUE#{event_id}"]

    def body(item: dict[str, Any]) -> dict[str, Any]:
        return {name: value for name, value in item.items() if name not in ("pk", "sk")}

    assert all(body(copy) == body(state) for copy in copies)
    operations = record_requests(dynamodb.get_client())
    for user in ("user-alice", "user-bob", "user-carol"):
        assert join(event_id, user).status == 200
    assert poll(event_id, "user-alice").status == 200
    read = keys_read(operations)
    assert f"QUEUE#{event_id}" not in read, read
    assert sum(1 for key in read if key.startswith(f"QUEUE#{event_id}#VIEW#")) == 4


def test_a_queue_created_before_its_copies_were_written_with_it_is_read_from_its_state(queue_env, stripe_fake, clock):
    event_id = queued_event()
    for copy in items_with_prefix(queue_env, TICKETS, f"QUEUE#{event_id}#VIEW#"):
        queue_env.delete_item(TableName=TICKETS, Key={"pk": {"S": copy["pk"]}, "sk": {"S": copy["sk"]}})
    operations = record_requests(dynamodb.get_client())
    joined = join(event_id, "user-alice")
    assert (joined.status, joined.body["status"], joined.body["admitted_to"]) == (200, "waiting", 0)
    assert f"QUEUE#{event_id}" in keys_read(operations)
    admit(clock)  # the admitter's first write puts the copies back
    assert len(items_with_prefix(queue_env, TICKETS, f"QUEUE#{event_id}#VIEW#")) == 16
    assert poll(event_id, "user-alice").body["status"] == "admitted"


def test_copies_in_the_tables_layout_written_before_a_deploy_are_what_joins_and_polls_read(queue_env, stripe_fake, clock):
    """The table outlives the code: copies of a queue's state as the layout says them
    (``QUEUE#<event>#VIEW#<n>`` / ``VIEW``, repositories/queue.py), written by the version deployed
    before, are read by this one; its joins and polls do not fall back to the state's own key."""
    event_id = queued_event()
    for copy in items_with_prefix(queue_env, TICKETS, f"QUEUE#{event_id}#VIEW#"):
        queue_env.delete_item(TableName=TICKETS, Key={"pk": {"S": copy["pk"]}, "sk": {"S": copy["sk"]}})
        kept = {name: value for name, value in copy.items() if name not in ("pk", "sk")}
        queue_env.put_item(TableName=TICKETS, Item={"pk": {"S": copy["pk"]}, "sk": {"S": "VIEW"}, **dynamodb.to_attributes(kept)})
    operations = record_requests(dynamodb.get_client())
    assert join(event_id, "user-alice").body["status"] == "waiting"
    assert poll(event_id, "user-alice").body["status"] == "waiting"
    read = keys_read(operations)
    assert f"QUEUE#{event_id}" not in read, read
    assert sum(1 for key in read if key.startswith(f"QUEUE#{event_id}#VIEW#")) == 2


def test_a_state_written_before_the_poll_hints_reads_as_no_seat_nor_place_known(queue_env, clock):
    from payments.repositories.queue import QueueRepository, state_key

    event_id = queued_event()
    legacy = {"event_id": event_id, "admitted_to": 5, "lapsed_to": 0, "credited_ms": 0, "sold_out": False, "version": 3, "updated_ms": 0}
    queue_env.put_item(TableName=TICKETS, Item={**state_key(event_id), **dynamodb.to_attributes(legacy)})
    state = QueueRepository(dynamodb.get_client(), TICKETS).state(event_id)
    assert (state.admitted_to, state.version, state.seats_left, state.handed_to, state.seat_bound) == (5, 3, 0, 0, False)


def test_every_answer_tells_the_page_when_to_poll_again(queue_env, clock, monkeypatch):
    """``poll_after_ms`` (payments.domain.admission.poll_after_ms, with the settings' rate and poll
    budget): sooner for the buyers near the front, later further back; a minute once admitted."""
    from payments.domain.admission import AdmissionPolicy, PlaceStatus, QueueState, poll_after_ms
    from payments.repositories.queue import QueueRepository

    monkeypatch.setenv("STRIPE_SESSION_RATE_PER_SECOND", "2")  # the least the settings take (pacing)
    monkeypatch.setenv("QUEUE_COMPLETION_PERCENT", "80")
    monkeypatch.setenv("QUEUE_POLL_BUDGET_PER_SECOND", "7")
    wiring.reset()
    policy = AdmissionPolicy(rate_per_second=2, window_ms=600_000, completion_percent=80, poll_budget_per_second=7)
    assert wiring.queue_service()._policy == policy  # the settings reach the rules
    event_id = queued_event(capacity=100)
    users = [f"user-{number}" for number in range(30)]
    joined = {user: join(event_id, user).body for user in users}
    # Before the admitter's first step the state knows no seats yet: the rule on the state as created.
    for answer in joined.values():
        assert answer["poll_after_ms"] == poll_after_ms(QueueState(), answer["place"], PlaceStatus.WAITING, policy), answer
    admit(clock)
    state = QueueRepository(dynamodb.get_client(), TICKETS).state(event_id)
    last = max(answer["place"] for answer in joined.values())
    assert (state.admitted_to, state.seats_left, state.handed_to) == (2, 100, last)
    hints = {}
    for user in users:
        answer = poll(event_id, user).body
        assert answer["poll_after_ms"] == poll_after_ms(state, answer["place"], PlaceStatus(answer["status"]), policy), answer
        hints[answer["place"]] = answer["poll_after_ms"]
    assert hints[1] == hints[2] == 60_000  # admitted: nothing more to hear
    assert hints[3] == 1000  # next in line: the least hint
    assert hints[last] == (last - 2) * 250  # half the time until their turn at 2 a second


# the reservation path of a queued event ---------------------------------------------------------------
def test_a_buyer_not_admitted_is_refused_and_nothing_is_written(queue_env, stripe_fake, clock):
    event_id = queued_event(capacity=10)
    joined = join(event_id, "user-alice").body
    queue_pass = joined["queue_pass"]
    before = scan(queue_env, TICKETS)
    refused = purchase(event_id, "user-alice", queue_pass)
    assert refused.status == 403
    # the body gives the buyer's place and the watermark (docs/openapi.yaml's NotAdmitted), as the message does
    assert refused.body == {
        "error": f"Not admitted yet: your place is {joined['place']}, admitted up to 0",
        "place": joined["place"],
        "admitted_to": 0,
    }
    without = purchase(event_id, "user-alice", None)
    assert (without.status, without.body["error"]) == (
        403,
        "This event sells through its queue: join it, and send your queue_pass once admitted",
    )
    nothing_written(queue_env, event_id, before)
    assert get_event(event_id)["available"] == 10
    assert stripe_fake.requests == []


@pytest.mark.parametrize("tamper", ["signature", "other_buyer", "expired"])
def test_a_forged_foreign_or_expired_pass_is_refused_and_nothing_is_written(queue_env, stripe_fake, clock, tamper):
    event_id = queued_event(capacity=10)
    queue_pass = join(event_id, "user-alice").body["queue_pass"]
    bob_pass = join(event_id, "user-bob").body["queue_pass"]
    admit(clock)
    assert poll(event_id, "user-alice").body["status"] == "admitted"
    if tamper == "signature":
        payload, signature = queue_pass.split(".")
        queue_pass = f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
        expected = "queue_pass: not a queue pass of ours"
    elif tamper == "other_buyer":
        queue_pass = bob_pass
        expected = "queue_pass: a queue pass of another event or account"
    else:
        clock[0] += 61  # the pass lasts 60 s here; the admission 600 s
        expected = "queue_pass: expired; ask for your place again for a new one"
    before = scan(queue_env, TICKETS)
    refused = purchase(event_id, "user-alice", queue_pass)
    assert (refused.status, refused.body) == (403, {"error": expected})
    nothing_written(queue_env, event_id, before)
    assert stripe_fake.requests == []


def test_an_admission_is_used_once(queue_env, stripe_fake, clock):
    event_id = queued_event(capacity=10)
    queue_pass = join(event_id, "user-alice").body["queue_pass"]
    admit(clock)
    admitted = poll(event_id, "user-alice").body
    assert admitted["status"] == "admitted" and admitted["admission_expires_at"] > clock[0]
    bought = purchase(event_id, "user-alice", admitted["queue_pass"])
    assert bought.status == 200 and set(bought.body) >= {"checkout_url", "session_id", "ticket_id", "ticket_code"}
    item = buyer_item(queue_env, event_id, "user-alice")
    assert item["ticket_id"] == bought.body["ticket_id"] and item["used_ms"] is not None
    # A second tab with the same pass reaches the transaction and is refused there: nothing written.
    before = scan(queue_env, TICKETS)
    again = purchase(event_id, "user-alice", queue_pass)
    assert (again.status, again.body) == (
        409,
        {"error": f"Your admission was already used (ticket {bought.body['ticket_id']})", "ticket_id": bought.body["ticket_id"]},
    )
    assert scan(queue_env, TICKETS) == before
    assert get_event(event_id)["available"] == 9
    assert poll(event_id, "user-alice").body["status"] == "used"


def test_the_admitters_count_of_used_admissions_survives_a_throttled_batch_read(queue_env, stripe_fake, clock, monkeypatch):
    """Under throttling BatchGetItem leaves keys unprocessed: an epoch's uses unread would count as
    none used, so that when the epoch lapses the admitter would give its used admissions' room back
    as if unused and admit buyers beyond the seats. The uses are read again until every key is in."""
    from payments import retries
    from payments.repositories.queue import QueueRepository

    monkeypatch.setattr(retries.time, "sleep", lambda _: None)
    event_id = queued_event(capacity=10)
    join(event_id, "user-alice")
    admit(clock)
    assert purchase(event_id, "user-alice", poll(event_id, "user-alice").body["queue_pass"]).status == 200
    epochs = sorted(QueueRepository(queue_env, TICKETS).state(event_id).epochs)
    assert QueueRepository(queue_env, TICKETS).used(event_id, epochs) == {epochs[0]: 1}
    assert QueueRepository(Unprocessing(queue_env, times=1), TICKETS).used(event_id, epochs) == {epochs[0]: 1}
    with pytest.raises(Exception) as refused:  # throttled for good: the step fails, never reads none used
        QueueRepository(Unprocessing(queue_env, times=10**6), TICKETS).used(event_id, epochs)
    assert dynamodb.is_unavailable(refused.value)


def test_an_admission_whose_checkout_stripe_refused_is_given_back(queue_env, stripe_fake, clock, monkeypatch):
    """Stripe refusing the Checkout Session releases the reservation; the admission is not spent on
    it: the buyer may try again within the window. The give-back is audited for its buyer."""
    from payments.domain import queue

    audited = []
    monkeypatch.setattr(queue, "audit", lambda action, **fields: audited.append((action, fields)))
    event_id = queued_event(capacity=10)
    join(event_id, "user-alice")
    admit(clock)
    queue_pass = poll(event_id, "user-alice").body["queue_pass"]
    stripe_fake.fail_next("/v1/checkout/sessions", status=400, type_="invalid_request_error", message="Invalid currency.", code=None)
    failed = purchase(event_id, "user-alice", queue_pass)
    assert (failed.status, failed.body) == (400, {"error": "Invalid currency."})
    assert get_event(event_id)["available"] == 10
    assert "used_ms" not in buyer_item(queue_env, event_id, "user-alice")
    assert poll(event_id, "user-alice").body["status"] == "admitted"
    given_back = [fields for action, fields in audited if action == "queue.admission_given_back"]
    assert given_back == [{"user_id": "user-alice", "event_id": event_id, "ticket_id": given_back[0]["ticket_id"]}]
    assert isinstance(given_back[0]["ticket_id"], int)
    again = purchase(event_id, "user-alice", queue_pass)
    assert again.status == 200
    assert buyer_item(queue_env, event_id, "user-alice")["ticket_id"] == again.body["ticket_id"]


def test_lapsed_admissions_let_others_in(queue_env, stripe_fake, clock):
    event_id = queued_event(capacity=2)
    passes = {user: join(event_id, user).body for user in ("user-a", "user-b", "user-c")}
    admit(clock, 1.0)
    statuses = {user: poll(event_id, user).body["status"] for user in passes}
    # Two seats: two admitted, the third waits.
    assert sorted(statuses.values()) == ["admitted", "admitted", "waiting"]
    [waiting] = [user for user, status in statuses.items() if status == "waiting"]
    admit(clock, 300)
    assert poll(event_id, waiting).body["status"] == "waiting"
    admit(clock, 320)  # past the window (600 s after the epoch's end)
    after = {user: poll(event_id, user).body["status"] for user in passes}
    assert after[waiting] == "admitted"
    assert sorted(after.values()) == ["admitted", "expired", "expired"]
    [late] = [user for user, status in after.items() if status == "expired"][:1]
    lapsed = purchase(event_id, late, poll(event_id, late).body["queue_pass"])
    assert (lapsed.status, lapsed.body["error"]) == (403, "Your admission expired before you reserved")
    assert purchase(event_id, waiting, poll(event_id, waiting).body["queue_pass"]).status == 200


def test_an_admission_lapsing_while_its_reservation_is_written_is_refused_as_expired(queue_env, stripe_fake, clock, monkeypatch):
    """The admission was open when the purchase read it; the admitter lapsed its epoch before the
    reservation's transaction: refused there, with nothing written, and the buyer told why (their
    admission expired, their place) as when the lapse is read first."""
    from payments.repositories.tickets import TicketRepository

    event_id = queued_event(capacity=10)
    join(event_id, "user-alice")
    admit(clock)
    admitted = poll(event_id, "user-alice").body
    original = TicketRepository.create

    def lapsed_meanwhile(self, *args, **kwargs):
        admit(clock, 700)  # past the window: the admitter lapses the epoch
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TicketRepository, "create", lapsed_meanwhile)
    refused = purchase(event_id, "user-alice", admitted["queue_pass"])
    assert (refused.status, refused.body) == (403, {"error": "Your admission expired before you reserved", "place": admitted["place"]})
    assert items_with_prefix(queue_env, TICKETS, "TICKET#") == []
    assert get_event(event_id)["available"] == 10


def test_waiting_buyers_hear_sold_out_and_the_queue_moves_when_seats_come_back(queue_env, stripe_fake, clock):
    event_id = queued_event(capacity=1)
    join(event_id, "user-a")
    join(event_id, "user-b")
    admit(clock)
    first = next(user for user in ("user-a", "user-b") if poll(event_id, user).body["status"] == "admitted")
    second = "user-b" if first == "user-a" else "user-a"
    bought = purchase(event_id, first, poll(event_id, first).body["queue_pass"])
    assert bought.status == 200
    admit(clock)
    told = poll(event_id, second).body
    assert (told["status"], told["estimated_wait_seconds"]) == ("sold_out", None)
    # The reservation is cancelled: its seat comes back, and the queue moves again.
    assert cancel(bought.body["ticket_id"], user=first).status == 200
    admit(clock)
    assert poll(event_id, second).body["status"] == "admitted"


def test_a_waiting_buyer_told_sold_out_is_not_admitted_when_a_seat_comes_back_before_the_next_step(queue_env, stripe_fake, clock):
    event_id = queued_event(capacity=1)
    join(event_id, "user-a")
    join(event_id, "user-b")
    admit(clock)
    first = next(user for user in ("user-a", "user-b") if poll(event_id, user).body["status"] == "admitted")
    second = "user-b" if first == "user-a" else "user-a"
    bought = purchase(event_id, first, poll(event_id, first).body["queue_pass"])
    admit(clock)
    waiting = poll(event_id, second).body
    assert waiting["status"] == "sold_out"
    # The seat comes back; the admitter has not stepped yet: the state still says sold out.
    assert cancel(bought.body["ticket_id"], user=first).status == 200
    refused = purchase(event_id, second, waiting["queue_pass"])
    assert refused.status == 403 and refused.body["error"].startswith("Not admitted yet"), refused.body
    assert get_event(event_id)["available"] == 1


def test_the_scheduled_admitter_steps_every_queue(queue_env, clock, monkeypatch):
    monkeypatch.setenv("QUEUE_ADMITTER_SECONDS", "0")
    wiring.reset()
    event_id = queued_event()
    join(event_id, "user-alice")
    clock[0] += 1
    report = load_module("admit_event_queues").lambda_handler(sample_event("admit_event_queues"), LambdaContext("admit_event_queues"))
    assert report["admitted"] == 1 and report["events"] == [event_id] and report["ticks"] == 1
    assert poll(event_id, "user-alice").body["status"] == "admitted"


def test_the_scheduled_admitter_stops_stepping_in_time_for_its_timeout(queue_env, clock, monkeypatch):
    """58 seconds of steps asked, 10.5 s of the function's time left: one step, then it returns
    (a step is never started within 10 s of the timeout)."""
    monkeypatch.setenv("QUEUE_ADMITTER_SECONDS", "58")
    wiring.reset()
    event_id = queued_event()
    join(event_id, "user-alice")
    clock[0] += 1
    context = LambdaContext("admit_event_queues", remaining_millis=10_500)
    report = load_module("admit_event_queues").lambda_handler(sample_event("admit_event_queues"), context)
    assert (report["ticks"], report["admitted"]) == (1, 1)


def test_the_admitter_without_queues_returns_at_once(queue_env, clock):
    report = wiring.queue_service().admit_for(58)
    assert (report.ticks, report.active, report.admitted) == (1, 0, 0)


# at once -------------------------------------------------------------------------------------------------
@pytest.fixture
def serialised(queue_env: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Each DynamoDB request atomic, as in AWS (moto itself does not lock)."""
    client = SerialisedClient(queue_env)
    wiring.reset()
    monkeypatch.setattr(dynamodb, "get_client", lambda: client)
    return queue_env


def test_buyers_joining_at_once_get_one_place_each_and_no_two_the_same(serialised, clock):
    event_id = queued_event()
    users = [f"user-{number % 30}" for number in range(45)]  # 15 of them join twice, at the same time
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda user: (user, join(event_id, user)), users))
    assert {answer.status for _, answer in answers} == {200}
    place_of_user: dict[str, set[int]] = {}
    for user, answer in answers:
        place_of_user.setdefault(user, set()).add(answer.body["place"])
    assert all(len(places) == 1 for places in place_of_user.values()), place_of_user
    assert len({next(iter(places)) for places in place_of_user.values()}) == 30
    assert len(items_with_prefix(serialised, TICKETS, f"QUEUE#{event_id}#BUYER#")) == 30


def test_two_tabs_racing_on_one_admission_reserve_once(serialised, stripe_fake, clock):
    event_id = queued_event(capacity=20)
    users = [f"user-{number}" for number in range(5)]
    for user in users:
        join(event_id, user)
    admit(clock)
    for user in users:
        queue_pass = poll(event_id, user).body["queue_pass"]
        with ThreadPoolExecutor(max_workers=2) as pool:
            tabs = [tab.result() for tab in [pool.submit(purchase, event_id, user, queue_pass) for _ in range(2)]]
        assert sorted(tab.status for tab in tabs) == [200, 409], [tab.body for tab in tabs]
    assert get_event(event_id)["available"] == 15
    assert len(items_with_prefix(serialised, TICKETS, "TICKET#")) == 5


# what the template lets each function do --------------------------------------------------------------
def allowed(function: str) -> set[str]:
    """The DynamoDB actions the template's policy statements grant ``function`` (its own statements only)."""
    from local.template import load_template, resources_of_type

    policies = resources_of_type(load_template(), "AWS::Serverless::Function")[function]["Properties"]["Policies"]
    return {action for policy in policies for statement in policy.get("Statement", []) for action in statement["Action"]}


def granted(calls: set[str], function: str) -> bool:
    """A transaction is authorised item by item (UpdateItem, PutItem, ConditionCheckItem), not as itself."""
    actions = allowed(function)
    if "dynamodb:TransactWriteItems" in calls:
        calls = (calls - {"dynamodb:TransactWriteItems"}) | {"dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:ConditionCheckItem"}
    return calls <= actions


def test_the_queue_functions_call_only_what_their_policies_grant(queue_env, stripe_fake, clock, monkeypatch):
    event_id = queued_event()
    client = dynamodb.get_client()
    calls: list[str] = []
    client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(f"dynamodb:{model.name}"))
    join(event_id, "user-alice")  # a new buyer: reads, a claim, a counter, the place
    # Another at the same instant: the one behind of two counters drawn (pinned: 3 and 7, both at 0),
    # which leaves places nobody holds below it (2, 3) for the step to close.
    monkeypatch.setattr(secrets, "randbelow", lambda bound: 3)
    assert join(event_id, "user-bob").body["place"] == 4
    join(event_id, "user-alice")  # again: reads only
    join(999, "user-alice")  # no such event: the event read that tells which 404
    joined, calls[:] = set(calls), []
    admit(clock)  # a step that admits past places nobody holds, and closes them
    admitted, calls[:] = set(calls), []
    poll(event_id, "user-alice")
    poll(999, "user-alice")
    polled, calls[:] = set(calls), []
    enable(create_event(price=25, capacity=10, seat_shards=2))
    enable(event_id)
    enabled = set(calls)
    assert "dynamodb:UpdateItem" in admitted  # the step did close places
    assert "dynamodb:TransactWriteItems" in enabled
    assert granted(enabled, "EnableEventQueueFunction"), enabled
    assert joined <= allowed("JoinEventQueueFunction"), joined
    assert admitted <= allowed("AdmitEventQueuesFunction"), admitted
    assert polled <= allowed("GetEventQueuePlaceFunction"), polled


def test_a_claim_left_without_a_place_is_waited_for_then_taken_over(queue_env, clock, monkeypatch):
    """A join claims the account's item before drawing a place. A claim found without one (another
    request of the account between its two writes) is waited for, briefly, and answers 503 with
    nothing drawn; a claim left placeless for a minute (its request died) is taken over."""
    from payments.repositories import queue as queue_repository

    event_id = queued_event()
    now_ms = int(clock[0] * 1000)
    claimed = {"event_id": event_id, "owner": "user-alice", "joined_ms": now_ms, "claim": "another-request"}
    queue_env.put_item(TableName=TICKETS, Item={**queue_repository.buyer_key(event_id, "user-alice"), **dynamodb.to_attributes(claimed)})
    monkeypatch.setattr(queue_repository, "CLAIM_WAITS", (0.0, 0.0))
    before = scan(queue_env, TICKETS)
    waiting = join(event_id, "user-alice")
    assert waiting.status == 503 and waiting.headers.get("Retry-After") == "1", waiting.body
    assert poll(event_id, "user-alice").status == 404  # a claim is not a place
    assert scan(queue_env, TICKETS) == before  # nothing drawn from the counters, nothing written
    clock[0] += queue_repository.STALE_CLAIM_MS / 1000
    taken = join(event_id, "user-alice")
    assert taken.status == 200 and taken.body["place"] == 1, taken.body
    item = buyer_item(queue_env, event_id, "user-alice")
    assert int(item["place"]) == 1 and "claim" not in item
    assert join(event_id, "user-alice").body["place"] == 1  # held now: the same place


def test_a_join_that_stalled_past_its_claim_answers_the_place_of_the_request_that_took_it_over(queue_env, clock, monkeypatch):
    """A request stalls a minute between its claim and its place; another request of the account
    takes the claim over and is placed. The stalled one's place is refused: it answers the place
    the account holds (one account, one place), and only the join that holds it is audited."""
    from payments.domain import queue
    from payments.repositories import queue as queue_repository

    audited = []
    monkeypatch.setattr(queue, "audit", lambda action, **fields: audited.append((action, fields)))
    monkeypatch.setattr(queue_repository, "CLAIM_WAITS", (0.0, 0.0))
    event_id = queued_event()
    original = queue_repository.QueueRepository._draw
    other = []

    def stalled_then_taken_over(self, *args, **kwargs):
        if not other:
            other.append(None)
            clock[0] += queue_repository.STALE_CLAIM_MS / 1000
            other[0] = join(event_id, "user-alice")  # the account's next request, a minute on
        return original(self, *args, **kwargs)

    monkeypatch.setattr(queue_repository.QueueRepository, "_draw", stalled_then_taken_over)
    stalled = join(event_id, "user-alice")
    assert (stalled.status, other[0].status) == (200, 200), stalled.body
    held = int(buyer_item(queue_env, event_id, "user-alice")["place"])
    assert stalled.body["place"] == other[0].body["place"] == held
    assert audited == [("queue.joined", {"user_id": "user-alice", "event_id": event_id, "place": held})]


def test_the_uses_of_more_open_epochs_than_one_batch_reads_are_all_counted() -> None:
    """More than 100 open epochs (a window over 1,000 s): BatchGetItem reads at most 100 keys a
    call, so the admitter's count of uses is read in batches of 100; every epoch is counted, none
    skipped at a batch's edge and none asked twice (run 7's open survivor `used`: batches of 101)."""
    from payments.repositories.queue import QueueRepository, used_key
    from tests.support.moto_direct import MotoDirect
    from tests.support.store_worlds import moto_world

    with moto_world() as world:
        repository = world.queues
        assert isinstance(repository, QueueRepository)
        client, table = repository._client, repository._table
        assert isinstance(client, MotoDirect)
        epochs = list(range(1000, 1250))
        for epoch in epochs:
            client.put_item(TableName=table, Item={**used_key(42, epoch), "used": {"N": str(epoch % 7)}})
        assert repository.used(42, epochs) == {epoch: epoch % 7 for epoch in epochs}
        assert repository.used(42, [*epochs, 5000]) == {epoch: epoch % 7 for epoch in epochs}
