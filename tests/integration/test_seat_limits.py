"""Seats one account may hold per event: unpaid ones (reserved or processing) and free ones, each
counted in an item per (event, owner) that the purchase's own conditional transaction takes; and a
free ticket given back through the seed's cancel route (issues 24 and 25)."""

import pytest

from tests.conftest import clear_container_caches
from tests.support.dynamo import PAYMENTS, TICKETS, scan
from tests.support.flows import STAFF, buy, cancel, create_event, get_event
from tests.support.lambdas import call


def counter(dynamodb, kind, event_id, owner):
    """The held seats an account's counter item says, or None when it has no item."""
    found = [item for item in scan(dynamodb, TICKETS) if item["pk"] == f"{kind}#{event_id}#{owner}"]
    return int(found[0]["held"]) if found else None


def everything(dynamodb):
    """Both tables as they are: a refused request must leave them exactly so. The id counter is left
    out: a container reserves ticket ids a block at a time, before it knows whether it will use one."""
    by_key = {}
    for table in (TICKETS, PAYMENTS):
        for item in scan(dynamodb, table):
            if not str(item["pk"]).startswith("COUNTER#"):
                by_key[(table, item["pk"], item["sk"])] = item
    return by_key


def ticket_item(dynamodb, ticket_id):
    return next(item for item in scan(dynamodb, TICKETS) if item["pk"] == f"TICKET#{ticket_id}")


def check_in(ticket_code, event_id, count=None):
    body = {"ticket_code": ticket_code, "event_id": event_id} | ({} if count is None else {"count": count})
    return call("check_in_ticket", body, user="user-door", groups=STAFF)


@pytest.fixture
def limits(monkeypatch):
    """Per-event limits below one order's size (10), so that a first order can exceed them."""

    def set_limits(unpaid=None, free=None):
        if unpaid is not None:
            monkeypatch.setenv("MAX_UNPAID_SEATS_PER_EVENT", str(unpaid))
        if free is not None:
            monkeypatch.setenv("MAX_FREE_SEATS_PER_EVENT", str(free))
        clear_container_caches()

    return set_limits


# unpaid seats (issue 24's finding) ---------------------------------------------------------------
def test_a_first_order_cannot_hold_more_unpaid_seats_than_the_limit(dynamodb, stripe_fake, limits):
    # Given a limit of 3 unpaid seats per account and event, and an account that holds none yet
    limits(unpaid=3)
    event_id = create_event(price=25, capacity=20)
    before = everything(dynamodb)
    # When its first order asks for 5
    refused = buy(event_id, 5, user="user-hoarder")
    # Then it is refused naming quantity, nothing is written and nothing reaches Stripe
    assert (refused.status, refused.body) == (
        400,
        {"error": "quantity: you may hold at most 3 unpaid seats for this event, not 5"},
    )
    assert everything(dynamodb) == before
    assert stripe_fake.sessions == {}
    # And an order within the limit still goes through, counted
    assert buy(event_id, 3, user="user-hoarder").status == 200
    assert counter(dynamodb, "UNPAID", event_id, "user-hoarder") == 3
    assert get_event(event_id)["available"] == 17


# free seats (issue 25) ----------------------------------------------------------------------------
def test_one_account_cannot_take_every_free_seat(dynamodb, stripe_fake, limits):
    # Given a free event and a limit of 4 free seats per account
    limits(free=4)
    event_id = create_event(price=0, capacity=20)
    assert buy(event_id, 3, user="user-hoarder").status == 200
    before = everything(dynamodb)
    # When the same account asks for 2 more
    refused = buy(event_id, 2, user="user-hoarder")
    # Then it is refused naming quantity, and nothing is written
    assert (refused.status, refused.body) == (
        400,
        {"error": "quantity: you already hold 3 free seats for this event and may hold at most 4; give some back first"},
    )
    assert everything(dynamodb) == before
    # And the rest of the limit, other accounts and other events are unaffected
    assert buy(event_id, 1, user="user-hoarder").status == 200
    assert buy(event_id, 4, user="user-other").status == 200
    assert buy(create_event(price=0, capacity=5), 4, user="user-hoarder").status == 200
    assert counter(dynamodb, "FREE", event_id, "user-hoarder") == 4
    assert counter(dynamodb, "FREE", event_id, "user-other") == 4
    assert get_event(event_id)["available"] == 12


def test_a_first_free_order_over_the_limit_is_refused_and_writes_nothing(dynamodb, stripe_fake, limits):
    limits(free=3)
    event_id = create_event(price=0, capacity=20)
    before = everything(dynamodb)
    refused = buy(event_id, 5, user="user-hoarder")
    assert (refused.status, refused.body) == (
        400,
        {"error": "quantity: you may hold at most 3 free seats for this event, not 5"},
    )
    assert everything(dynamodb) == before
    assert counter(dynamodb, "FREE", event_id, "user-hoarder") is None


def test_the_free_limit_defaults_to_one_order(dynamodb, stripe_fake):
    event_id = create_event(price=0, capacity=50)
    assert buy(event_id, 10, user="user-hoarder").status == 200
    refused = buy(event_id, 1, user="user-hoarder")
    assert refused.status == 400
    assert refused.body["error"].startswith("quantity: you already hold 10 free seats")
    assert get_event(event_id)["available"] == 40


def test_free_seats_do_not_count_against_unpaid_ones_nor_the_reverse(dynamodb, stripe_fake, limits):
    limits(unpaid=2, free=2)
    free_event, paid_event = create_event(price=0, capacity=10), create_event(price=25, capacity=10)
    assert buy(free_event, 2).status == 200
    assert buy(paid_event, 2).status == 200
    assert (counter(dynamodb, "FREE", free_event, "user-alice"), counter(dynamodb, "UNPAID", free_event, "user-alice")) == (2, None)
    assert (counter(dynamodb, "FREE", paid_event, "user-alice"), counter(dynamodb, "UNPAID", paid_event, "user-alice")) == (None, 2)


# giving a free ticket back ------------------------------------------------------------------------
def test_a_free_ticket_given_back_returns_its_seats_and_its_holders_count(dynamodb, stripe_fake, limits):
    # Given an account that took all its free seats of an event
    limits(free=4)
    event_id = create_event(price=0, capacity=10)
    ticket = buy(event_id, 4).body
    assert buy(event_id, 1).status == 400
    # When it gives its ticket back through the seed's cancel route
    result = cancel(ticket["ticket_id"])
    # Then the seats are on sale again, the ticket is cancelled with no door pass, and the account may take seats again
    assert (result.status, result.body) == (200, {"detail": "Payment cancelled", "ticket_id": ticket["ticket_id"]})
    assert get_event(event_id)["available"] == 10
    assert counter(dynamodb, "FREE", event_id, "user-alice") == 0
    stored = ticket_item(dynamodb, ticket["ticket_id"])
    assert (stored["status"], "released_at" in stored) == ("cancelled", True)
    shown = call("get_ticket", path_params={"ticket_id": str(ticket["ticket_id"])})
    assert (shown.body["status"], shown.body["qr_code_data"]) == ("cancelled", None)
    at_the_door = check_in(ticket["ticket_code"], event_id)
    assert (at_the_door.status, at_the_door.body) == (400, {"error": "Ticket is cancelled: it does not admit anyone"})
    assert buy(event_id, 4).status == 200


def test_giving_a_free_ticket_back_twice_returns_its_seats_once(dynamodb, stripe_fake):
    event_id = create_event(price=0, capacity=10)
    ticket = buy(event_id, 3).body
    assert cancel(ticket["ticket_id"]).status == 200
    again = cancel(ticket["ticket_id"])
    assert (again.status, again.body["detail"]) == (200, "Payment cancelled")
    assert get_event(event_id)["available"] == 10
    assert counter(dynamodb, "FREE", event_id, "user-alice") == 0


@pytest.mark.parametrize("admitted", [1, 3])
def test_a_free_ticket_admitted_at_the_door_cannot_be_given_back(dynamodb, stripe_fake, admitted):
    event_id = create_event(price=0, capacity=10)
    ticket = buy(event_id, 3).body
    assert check_in(ticket["ticket_code"], event_id, count=admitted).status == 200
    before = everything(dynamodb)
    refused = cancel(ticket["ticket_id"])
    assert (refused.status, refused.body) == (
        400,
        {"error": f"{admitted} of this ticket's 3 people were admitted at the door: it can no longer be given back"},
    )
    assert everything(dynamodb) == before


def test_another_accounts_free_ticket_cannot_be_given_back(dynamodb, stripe_fake):
    event_id = create_event(price=0, capacity=10)
    ticket = buy(event_id, 2).body
    before = everything(dynamodb)
    assert cancel(ticket["ticket_id"], user="user-bob").status == 403
    assert everything(dynamodb) == before


def test_the_give_back_write_itself_refuses_a_ticket_admitted_meanwhile(dynamodb, stripe_fake):
    """The door admits someone between the give-back's read and its write: the write's own condition
    refuses it (nothing written), and the ticket keeps its seats and its admission."""
    from payments import wiring
    from payments.domain.lifecycle import Trigger
    from payments.repositories.tickets import StateChanged

    event_id = create_event(price=0, capacity=10)
    ticket = buy(event_id, 2).body
    repository = wiring.ticket_repository()
    as_read = repository.get_ticket(ticket["ticket_id"])
    assert check_in(ticket["ticket_code"], event_id, count=1).status == 200
    before = everything(dynamodb)
    with pytest.raises(StateChanged):
        repository.apply(as_read, Trigger.GIVE_BACK, {"released_at": 1_800_000_000})
    assert everything(dynamodb) == before


def test_a_paid_ticket_is_not_given_back_by_the_free_transition(dynamodb, stripe_fake):
    """GIVE_BACK is for free tickets only, in the write's condition too: a paid ticket's money goes
    back through a refund."""
    from payments import wiring
    from payments.domain.lifecycle import Trigger
    from payments.repositories.tickets import StateChanged
    from tests.support.flows import pay, reserved_checkout, verify

    event_id, body = reserved_checkout(stripe_fake, quantity=2, capacity=10)
    pay(stripe_fake, body["session_id"])
    assert verify(body["session_id"], body["ticket_id"]).status == 200
    before = everything(dynamodb)
    assert (cancel(body["ticket_id"]).status, cancel(body["ticket_id"]).body) == (400, {"error": "Ticket already paid"})
    with pytest.raises(StateChanged):
        wiring.ticket_repository().apply(wiring.ticket_repository().get_ticket(body["ticket_id"]), Trigger.GIVE_BACK)
    assert everything(dynamodb) == before
    assert get_event(event_id)["available"] == 8


def test_a_free_ticket_of_a_sharded_event_gives_its_seats_back_to_the_shards_it_took_them_from(dynamodb, stripe_fake):
    event_id = create_event(price=0, capacity=8, seat_shards=4)  # 2 seats per shard
    ticket = buy(event_id, 5).body  # no shard has 5: taken from several
    assert get_event(event_id)["available"] == 3
    assert cancel(ticket["ticket_id"]).status == 200
    shards = [item for item in scan(dynamodb, TICKETS) if "shard_capacity" in item and int(item["event_id"]) == event_id]
    assert len(shards) == 4
    assert all(int(item["available"]) == int(item["shard_capacity"]) for item in shards)
    assert counter(dynamodb, "FREE", event_id, "user-alice") == 0
