"""After the purchase: my tickets, one ticket with its door pass, check-in at the door, the staff's
sales view, and the business metrics each leaves."""

import json
import threading
import types
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from tests.support.dynamo import TICKETS, SerialisedClient, items_with_prefix
from tests.support.flows import (
    STAFF,
    buy,
    cancel,
    create_event,
    deliver_webhook,
    get_event,
    late_payment_into_sold_out,
    pay,
    reserved_checkout,
    verify,
)
from tests.support.lambdas import call
from tests.unit.test_qr import decode_qr


def my_tickets(user="user-alice", **query):
    from tests.support.lambdas import api_event, invoke

    event = api_event("list_my_tickets", user=user)
    event["queryStringParameters"] = {name: str(value) for name, value in query.items()}
    return invoke("list_my_tickets", event)


def my_ticket(ticket_id, user="user-alice"):
    return call("get_ticket", path_params={"ticket_id": str(ticket_id)}, user=user)


def check_in(ticket_code, event_id, count=None, user="user-door", groups=STAFF):
    body = {"ticket_code": ticket_code, "event_id": event_id} | ({} if count is None else {"count": count})
    return call("check_in_ticket", body, user=user, groups=groups)


def sales(event_id, user="user-staff", groups=STAFF):
    return call("get_event_sales", path_params={"event_id": str(event_id)}, user=user, groups=groups)


def free_ticket(quantity=2, capacity=10, user="user-alice", event_id=None):
    event_id = event_id or create_event(price=0, capacity=capacity)
    result = buy(event_id, quantity, user=user)
    assert result.status == 200, result.body
    return event_id, result.body


def stored(dynamodb, ticket_id):
    [item] = [item for item in items_with_prefix(dynamodb, TICKETS, f"TICKET#{ticket_id}") if item["sk"] == "TICKET"]
    return item


# my tickets -------------------------------------------------------------------------------------
def test_my_tickets_are_mine_newest_first_a_page_at_a_time(dynamodb, stripe_fake, monkeypatch):
    from payments.domain import tickets as ticket_domain

    clock = iter(range(1_800_000_000, 1_800_001_000, 10))
    monkeypatch.setattr(ticket_domain.TicketService, "_now", lambda self: next(clock))
    event_id = create_event(price=0, capacity=20)
    mine = [free_ticket(1, event_id=event_id)[1]["ticket_id"] for _ in range(5)]
    free_ticket(1, event_id=event_id, user="user-bob")
    first = my_tickets(limit=2)
    assert first.status == 200, first.body
    assert [ticket["ticket_id"] for ticket in first.body["tickets"]] == mine[::-1][:2]
    assert first.body["tickets"][0] == {
        "ticket_id": mine[-1],
        "ticket_code": first.body["tickets"][0]["ticket_code"],
        "event_id": event_id,
        "quantity": 1,
        "status": "paid",
        "checked_in": 0,
        "quantity_remaining": 1,
    }
    pages, after = [first.body["tickets"]], first.body["next_after"]
    while after is not None:
        page = my_tickets(limit=2, after=after)
        assert page.status == 200, page.body
        pages.append(page.body["tickets"])
        after = page.body["next_after"]
    assert [ticket["ticket_id"] for page in pages for ticket in page] == mine[::-1]


def test_my_tickets_refuse_a_page_start_that_is_not_mine_and_bad_limits(dynamodb, stripe_fake):
    _, bobs = free_ticket(user="user-bob")
    refused = my_tickets(after=bobs["ticket_id"])
    assert refused.status == 400
    assert refused.body["error"].startswith("after:")
    assert my_tickets(limit=0).body["error"].startswith("limit:")
    assert my_tickets(limit="x").status == 400
    assert my_tickets(user=None).status == 401


def test_my_ticket_has_its_door_pass_while_it_is_valid(dynamodb, stripe_fake):
    _, body = free_ticket()
    result = my_ticket(body["ticket_id"])
    assert result.status == 200, result.body
    assert decode_qr(result.body["qr_code_data"]) == body["ticket_code"]
    assert {name: result.body[name] for name in ("ticket_id", "ticket_code", "quantity", "status", "checked_in", "checked_in_at")} == {
        "ticket_id": body["ticket_id"],
        "ticket_code": body["ticket_code"],
        "quantity": 2,
        "status": "paid",
        "checked_in": 0,
        "checked_in_at": None,
    }


def test_a_reserved_or_released_ticket_shows_no_door_pass(dynamodb, stripe_fake):
    _, body = reserved_checkout(stripe_fake)
    reserved = my_ticket(body["ticket_id"])
    assert (reserved.status, reserved.body["status"], reserved.body["qr_code_data"]) == (200, "reserved", None)
    assert cancel(body["ticket_id"]).status == 200
    cancelled = my_ticket(body["ticket_id"])
    assert (cancelled.body["status"], cancelled.body["qr_code_data"]) == ("cancelled", None)


def test_another_users_ticket_is_403_an_unknown_one_404_a_bad_id_400(dynamodb, stripe_fake):
    _, body = free_ticket()
    assert my_ticket(body["ticket_id"], user="user-bob").status == 403
    assert my_ticket(999_999).status == 404
    bad = call("get_ticket", path_params={"ticket_id": "abc"})
    assert (bad.status, bad.body["error"].split(":")[0]) == (400, "ticket_id")


def test_the_door_pass_is_drawn_once_per_ticket(dynamodb, stripe_fake, monkeypatch):
    from payments import qr

    drawn = []
    draw = qr.qr_png_base64
    monkeypatch.setattr(qr, "qr_png_base64", lambda text: drawn.append(text) or draw(text))
    # A paid ticket: drawn when its webhook pays it, kept in that write; verify and reads draw nothing
    _, body = reserved_checkout(stripe_fake)
    assert my_ticket(body["ticket_id"]).body["qr_code_data"] is None
    assert deliver_webhook(pay(stripe_fake, body["session_id"])).status == 200
    assert drawn == [body["ticket_code"]]
    passes = [verify(body["session_id"], body["ticket_id"]).body["qr_code_data"]]
    passes += [my_ticket(body["ticket_id"]).body["qr_code_data"] for _ in range(2)]
    assert drawn == [body["ticket_code"]]
    assert len(set(passes)) == 1
    assert stored(dynamodb, body["ticket_id"])["qr_png"] == passes[0]
    # A free ticket: drawn with the purchase, kept in the same write
    _, free = free_ticket()
    assert my_ticket(free["ticket_id"]).body["qr_code_data"] == free["qr_code_data"]
    assert drawn == [body["ticket_code"], free["ticket_code"]]


def test_a_ticket_paid_before_passes_were_kept_gets_one_drawn_when_shown(dynamodb, stripe_fake):
    _, body = free_ticket()
    dynamodb.update_item(
        TableName=TICKETS, Key={"pk": {"S": f"TICKET#{body['ticket_id']}"}, "sk": {"S": "TICKET"}}, UpdateExpression="REMOVE qr_png"
    )
    assert decode_qr(my_ticket(body["ticket_id"]).body["qr_code_data"]) == body["ticket_code"]


# check-in ---------------------------------------------------------------------------------------
def test_check_in_admits_everyone_once_and_says_when(dynamodb, stripe_fake):
    event_id, body = free_ticket(quantity=3)
    admitted = check_in(body["ticket_code"], event_id)
    assert admitted.status == 200, admitted.body
    assert {name: admitted.body[name] for name in ("ticket_id", "event_id", "quantity", "checked_in")} == {
        "ticket_id": body["ticket_id"],
        "event_id": event_id,
        "quantity": 3,
        "checked_in": 3,
    }
    assert isinstance(admitted.body["checked_in_at"], int)
    again = check_in(body["ticket_code"], event_id)
    assert again.status == 409
    assert "all 3 admitted" in again.body["error"]
    assert (again.body["checked_in"], again.body["quantity"], again.body["checked_in_at"]) == (3, 3, admitted.body["checked_in_at"])
    assert my_ticket(body["ticket_id"]).body["checked_in"] == 3


def test_a_ticket_written_before_the_door_counts_its_admissions_from_none(dynamodb, stripe_fake):
    """A ticket item written before check-in existed has no ``checked_in`` attribute at all (today's
    tickets are written with 0): its first admission counts from none, not from one, so the whole
    group still gets in and no more."""
    event_id, body = free_ticket(quantity=3)
    dynamodb.update_item(
        TableName=TICKETS, Key={"pk": {"S": f"TICKET#{body['ticket_id']}"}, "sk": {"S": "TICKET"}}, UpdateExpression="REMOVE checked_in"
    )
    assert "checked_in" not in stored(dynamodb, body["ticket_id"])
    first = check_in(body["ticket_code"], event_id, count=2)
    assert (first.status, first.body["checked_in"]) == (200, 2)
    assert stored(dynamodb, body["ticket_id"])["checked_in"] == 2
    last = check_in(body["ticket_code"], event_id, count=1)
    assert (last.status, last.body["checked_in"]) == (200, 3)
    assert check_in(body["ticket_code"], event_id, count=1).status == 409


def test_the_sales_view_counts_no_admission_for_a_ticket_written_before_the_door(dynamodb, stripe_fake):
    """The sales view reads the same old items (no ``checked_in`` attribute): nobody was admitted
    on them, so they count none in its ``checked_in``, beside a ticket admitted once today."""
    event_id, old = free_ticket(quantity=3)
    dynamodb.update_item(
        TableName=TICKETS, Key={"pk": {"S": f"TICKET#{old['ticket_id']}"}, "sk": {"S": "TICKET"}}, UpdateExpression="REMOVE checked_in"
    )
    assert "checked_in" not in stored(dynamodb, old["ticket_id"])
    _, new = free_ticket(quantity=2, event_id=event_id)
    assert check_in(new["ticket_code"], event_id, count=1).status == 200
    result = sales(event_id)
    assert (result.status, result.body["sold"], result.body["checked_in"]) == (200, 5, 1)


def test_check_in_by_count_admits_a_group_in_parts(dynamodb, stripe_fake):
    event_id, body = free_ticket(quantity=4)
    assert check_in(body["ticket_code"], event_id, count=1).body["checked_in"] == 1
    too_many = check_in(body["ticket_code"], event_id, count=4)
    assert too_many.status == 409
    assert "Only 3 of 4 left" in too_many.body["error"]
    assert too_many.body["checked_in"] == 1
    assert check_in(body["ticket_code"].upper(), event_id).body["checked_in"] == 4  # the rest; typed in capitals


def test_two_doors_scanning_one_pass_at_once_admit_it_once(dynamodb, stripe_fake, monkeypatch):
    from payments import dynamodb as layer_dynamodb
    from payments import wiring

    event_id, body = free_ticket(quantity=2)
    serialised = SerialisedClient(dynamodb)
    wiring.reset()
    monkeypatch.setattr(layer_dynamodb, "get_client", lambda: serialised)
    # Both doors read the ticket before either writes.
    from payments.repositories.tickets import TicketRepository

    both_read = threading.Barrier(2)
    read = TicketRepository.ticket_by_code

    def read_then_wait(self, code):
        found = read(self, code)
        both_read.wait(timeout=10)
        return found

    monkeypatch.setattr(TicketRepository, "ticket_by_code", read_then_wait)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda door: check_in(body["ticket_code"], event_id, user=door), ["door-1", "door-2"]))
    assert sorted(result.status for result in results) == [200, 409]
    assert stored(dynamodb, body["ticket_id"])["checked_in"] == 2


@pytest.mark.parametrize(
    ("code", "field"),
    [("not-a-code", "ticket_code"), ("", "ticket_code"), (42, "ticket_code"), (None, "ticket_code")],
)
def test_a_malformed_code_is_400_naming_the_field(dynamodb, code, field):
    result = call("check_in_ticket", {"ticket_code": code, "event_id": 1}, user="user-door", groups=STAFF)
    assert result.status == 400
    assert result.body["error"].startswith(f"{field}:")


def test_check_in_refusals_write_nothing(dynamodb, stripe_fake):
    event_id, body = free_ticket(quantity=2)
    before = stored(dynamodb, body["ticket_id"])
    assert check_in("00000000-0000-4000-8000-000000000000", event_id).status == 404
    assert check_in(body["ticket_code"], event_id, user="user-alice", groups="[customers]").status == 403
    assert check_in(body["ticket_code"], event_id, user="user-alice", groups="[staff-trainee]").status == 403
    for count, field in ((0, "count"), (11, "count"), ("2", "count")):
        result = call(
            "check_in_ticket", {"ticket_code": body["ticket_code"], "event_id": event_id, "count": count}, user="user-door", groups=STAFF
        )
        assert (result.status, result.body["error"].split(":")[0]) == (400, field)
    unknown = call("check_in_ticket", {"ticket_code": body["ticket_code"], "event_id": event_id, "seat": 1}, user="user-door", groups=STAFF)
    assert unknown.status == 400
    assert stored(dynamodb, body["ticket_id"]) == before


def test_the_door_admits_only_tickets_of_its_own_event(dynamodb, stripe_fake):
    # Given a valid free ticket of one event, and another event's door
    event_id, body = free_ticket(quantity=2)
    other_event = create_event(price=0, capacity=10, name="Another night")
    before = stored(dynamodb, body["ticket_id"])
    # When the pass is scanned at the other door (or at a door naming an event that does not exist)
    refused = [check_in(body["ticket_code"], door) for door in (other_event, 999_999)]
    # Then it is refused, saying which event the ticket is for, and nothing is recorded
    assert [(result.status, result.body) for result in refused] == [
        (400, {"error": f"Ticket is for event {event_id}, not event {door}: it does not admit anyone here"})
        for door in (other_event, 999_999)
    ]
    assert stored(dynamodb, body["ticket_id"]) == before
    # And at its own door it admits its people
    assert check_in(body["ticket_code"], event_id).body["checked_in"] == 2


@pytest.mark.parametrize(("door", "error"), [(None, "event_id: field required"), ("abc", "event_id:"), (0, "event_id:")])
def test_check_in_names_its_event_or_is_400(dynamodb, stripe_fake, door, error):
    _, body = free_ticket(quantity=2)
    request = {"ticket_code": body["ticket_code"]} | ({} if door is None else {"event_id": door})
    result = call("check_in_ticket", request, user="user-door", groups=STAFF)
    assert result.status == 400
    assert result.body["error"].startswith(error)
    assert stored(dynamodb, body["ticket_id"]).get("checked_in", 0) == 0


def test_the_admission_write_itself_checks_the_event(dynamodb, stripe_fake):
    """The door's own check aside, the conditional write refuses a ticket of another event."""
    from payments import wiring
    from payments.repositories.tickets import StateChanged

    event_id, body = free_ticket(quantity=2)
    other_event = create_event(price=0, capacity=10, name="Another night")
    repository = wiring.ticket_repository()
    ticket = repository.get_ticket(body["ticket_id"])
    before = stored(dynamodb, body["ticket_id"])
    with pytest.raises(StateChanged):
        repository.check_in(ticket, 1, 1_800_000_000, event_id=other_event)
    assert stored(dynamodb, body["ticket_id"]) == before
    assert repository.check_in(ticket, 1, 1_800_000_000, event_id=event_id).checked_in == 1


@pytest.mark.parametrize("state", ["reserved", "cancelled", "refunded"])
def test_a_ticket_not_valid_at_the_door_is_400_naming_its_status(dynamodb, stripe_fake, state):
    event_id, body = reserved_checkout(stripe_fake)
    if state == "cancelled":
        assert cancel(body["ticket_id"]).status == 200
    if state == "refunded":
        pay(stripe_fake, body["session_id"])
        assert verify(body["session_id"], body["ticket_id"]).status == 200
        assert call("refund_ticket", {"ticket_id": body["ticket_id"]}, user="user-staff", groups=STAFF).status == 200
    result = check_in(body["ticket_code"], event_id)
    assert result.status == 400
    assert state in result.body["error"]
    assert stored(dynamodb, body["ticket_id"]).get("checked_in", 0) == 0


# sales ------------------------------------------------------------------------------------------
def test_sales_count_seats_and_money_from_the_tickets(dynamodb, stripe_fake, monkeypatch):
    from payments.repositories import tickets as tickets_repository

    # Each purchase starts looking at the next shard, so that the tickets spread over all three.
    starts = iter(range(100))
    monkeypatch.setattr(tickets_repository, "secrets", types.SimpleNamespace(randbelow=lambda n: next(starts) % n))
    event_id = create_event(price=Decimal("12.50"), capacity=20, seat_shards=3)
    paid = []
    for user, quantity in (("user-a", 2), ("user-b", 3), ("user-c", 1)):
        body = buy(event_id, quantity, user=user).body
        pay(stripe_fake, body["session_id"])
        assert verify(body["session_id"], body["ticket_id"], user=user).status == 200
        paid.append(body)
    held = buy(event_id, 4, user="user-d").body  # reserved, unpaid
    assert call("refund_ticket", {"ticket_id": paid[2]["ticket_id"]}, user="user-staff", groups=STAFF).status == 200
    assert check_in(paid[0]["ticket_code"], event_id, count=1).status == 200
    assert held["ticket_id"]
    result = sales(event_id)
    assert result.status == 200, result.body
    assert result.body == {
        "event_id": event_id,
        "capacity": 20,
        "sold": 5,
        "held": 4,
        "available": 11,
        "checked_in": 1,
        "refunded": 1,
        "currency": "usd",
        "gross": 75,  # 6 seats paid at 12.50
        "refunded_amount": 12.5,
    }
    assert result.body["sold"] + result.body["held"] + result.body["available"] == result.body["capacity"]
    assert get_event(event_id)["available"] == 11
    assert {item["event_shard"] for item in items_with_prefix(dynamodb, TICKETS, "TICKET#")} == {f"{event_id}#{k}" for k in range(3)}


def test_sales_of_a_zero_decimal_currency_are_whole_and_exact(dynamodb, stripe_fake):
    event_id = create_event(price=1500, capacity=5, currency="jpy")
    body = buy(event_id, 2).body
    pay(stripe_fake, body["session_id"])
    assert verify(body["session_id"], body["ticket_id"]).status == 200
    result = sales(event_id).body
    assert (result["gross"], result["refunded_amount"], result["currency"]) == (3000, 0, "jpy")
    assert '"gross": 3000' in json.dumps(result)


def test_sales_are_for_staff_and_known_events(dynamodb, stripe_fake):
    event_id = create_event(price=0)
    assert sales(event_id, user="user-alice", groups="[customers]").status == 403
    assert sales(999_999).status == 404
    assert sales("abc").status == 400


# metrics ----------------------------------------------------------------------------------------
def emitted(output):
    """The metrics of the embedded-metric-format lines in a function's output: name -> total."""
    totals = {}
    for line in output.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + (sum(value) if isinstance(value, list) else value)
    return totals


def test_the_money_and_the_door_leave_business_metrics(dynamodb, stripe_fake, capsys):
    capsys.readouterr()
    event_id, body = free_ticket(quantity=2)
    assert emitted(capsys.readouterr().out) == {"TicketsSold": 1, "SeatsSold": 2}
    check_in(body["ticket_code"], event_id)
    assert emitted(capsys.readouterr().out) == {"CheckIns": 2}
    # A late payment into a sold-out event is refunded: the alarm's metric
    _, _, completed = late_payment_into_sold_out(stripe_fake)
    capsys.readouterr()
    assert deliver_webhook(completed).body["outcome"] == "refunded"
    output = capsys.readouterr().out
    totals = emitted(output)
    assert (totals["Refunds"], totals["LatePaymentRefunds"], totals["WebhookEvents"]) == (1, 1, 1)
    [webhook] = [json.loads(line) for line in output.splitlines() if '"WebhookEvents"' in line and '"_aws"' in line]
    assert (webhook["provider"], webhook["event_type"], webhook["outcome"]) == ("stripe", "checkout.session.completed", "refunded")


def test_a_request_that_records_nothing_writes_no_metrics(dynamodb, stripe_fake, capsys):
    event_id = create_event(price=0)
    capsys.readouterr()
    get_event(event_id)
    assert '"_aws"' not in capsys.readouterr().out


def test_metrics_that_cannot_be_written_do_not_fail_the_request(dynamodb, stripe_fake, monkeypatch, caplog):
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

    def broken(self, *args, **kwargs):
        raise RuntimeError("EMF serialisation failed")

    def failed_flushes() -> int:
        return [record.getMessage() for record in caplog.records].count("Metrics could not be written")

    monkeypatch.setattr(AmazonCloudWatchEMFProvider, "serialize_metric_set", broken)
    event_id = create_event(price=0, capacity=10)
    caplog.clear()  # the staff request's own flush (whether it has metrics to write depends on the container)
    event_id, body = free_ticket(event_id=event_id)  # answered 200 all the same
    assert failed_flushes() >= 1
    caplog.clear()
    assert check_in(body["ticket_code"], event_id).status == 200
    assert failed_flushes() == 1
