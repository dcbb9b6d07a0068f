"""The template as each stage deploys it, for an on-sale: reserved concurrency for the functions a
purchase burst must not starve (prod only), the on-sale routes' throttles and the reads they cost,
and optional pre-warming of the tables. The template is read as CloudFormation reads it
(``local.template``), its conditions evaluated with a stage's parameters from ``samconfig.toml``."""

from __future__ import annotations

import math
import tomllib
from typing import Any

import pytest

from local.template import ROOT, load_template, resources_of_type

TEMPLATE = load_template()
NO_VALUE = object()

# The functions a purchase burst must not starve: payment webhooks, the buyer's return from
# Checkout, and the three schedules that release seats, repair what webhooks missed and admit buyers.
RESERVED = {
    "StripeWebhookFunction",
    "PayPalWebhookFunction",
    "VerifyTicketPaymentFunction",
    "SweepReservationsFunction",
    "ReconcilePaymentsFunction",
    "AdmitEventQueuesFunction",
}
ACCOUNT_CONCURRENCY = 1000  # Lambda's default concurrency quota per account and region
LAMBDA_MIN_UNRESERVED = 100  # Lambda refuses a reservation that leaves fewer unreserved

# AWS defaults the on-sale's figures are held to (docs/on-sales.md, "Throttles for an on-sale").
API_GATEWAY_ACCOUNT_RATE = 10_000  # requests a second, all of an account's APIs in a region
TABLE_READ_QUOTA = 40_000  # read request units a second per on-demand table
ON_SALE_BUYERS, ON_SALE_SECONDS = 200_000, 60
PLACE_COUNTERS_WRITES = 8_000  # 8 counter keys at 1,000 writes a second: new buyers a second per event
MAX_SEAT_SHARDS = 64
# Read units per request (docs/on-sales.md, "What it costs"): a join reads the buyer's item (1), a copy
# of the state (0.5) and two counters (2); a poll the buyer's item and a copy; an event page the event
# and each of its shards, strongly consistent; a purchase the same plus the queue's state and its own.
JOIN_READS, POLL_READS, PURCHASE_READS = 3.5, 1.5, MAX_SEAT_SHARDS + 6
STATUS_READS = 0.5  # the queue's status: one copy of the state, eventually consistent


def stage_parameters(stage: str | None) -> dict[str, str]:
    """The template's defaults, overridden by ``samconfig.toml``'s for ``stage`` (None: defaults only)."""
    values = {name: str(spec.get("Default", "")) for name, spec in TEMPLATE["Parameters"].items()}
    if stage is not None:
        config = tomllib.loads((ROOT / "samconfig.toml").read_text())
        for override in config[stage]["deploy"]["parameters"]["parameter_overrides"]:
            name, _, value = override.partition("=")
            assert name in values, f"samconfig.toml [{stage}] overrides {name}, which the template lacks"
            values[name] = value
    return values


class Stack:
    """The template's conditions and the functions and intrinsics that depend only on parameters,
    resolved as CloudFormation would for one set of parameter values."""

    def __init__(self, parameters: dict[str, str]) -> None:
        self.parameters = parameters
        self.conditions: dict[str, bool] = {}
        for name in TEMPLATE.get("Conditions", {}):
            self.condition(name)

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = bool(self.resolve(TEMPLATE["Conditions"][name]))
        return self.conditions[name]

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [value for value in (self.resolve(item) for item in node) if value is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref":
                if value == "AWS::NoValue":
                    return NO_VALUE
                if value in self.parameters:
                    return self.parameters[value]
            elif key == "Fn::If":
                name, then, otherwise = value
                return self.resolve(then if self.condition(name) else otherwise)
            elif key == "Fn::Equals":
                left, right = (self.resolve(side) for side in value)
                return str(left) == str(right)
            elif key == "Fn::Not":
                return not self.resolve(value[0])
            elif key == "Fn::And":
                return all(self.resolve(item) for item in value)
            elif key == "Fn::Or":
                return any(self.resolve(item) for item in value)
            elif key in ("Condition", "Fn::Condition"):  # JSON's spelling, and the YAML short form's
                return self.condition(value)
        return {key: resolved for key, resolved in ((key, self.resolve(value)) for key, value in node.items()) if resolved is not NO_VALUE}

    def properties(self, logical_id: str) -> dict[str, Any]:
        resolved: dict[str, Any] = self.resolve(TEMPLATE["Resources"][logical_id]["Properties"])
        return resolved


def stack(stage: str | None, **overrides: str) -> Stack:
    return Stack(stage_parameters(stage) | overrides)


def reservations(deployed: Stack) -> dict[str, int]:
    return {
        name: int(reserved)
        for name in resources_of_type(TEMPLATE, "AWS::Serverless::Function")
        if (reserved := deployed.properties(name).get("ReservedConcurrentExecutions")) is not None
    }


def route_throttle(deployed: Stack, method: str, path: str) -> tuple[float, float]:
    """A route's (rate, burst) as deployed: its own RouteSettings, else the stage's default route's."""
    for function in resources_of_type(TEMPLATE, "AWS::Serverless::Function"):
        for event in deployed.properties(function).get("Events", {}).values():
            if event["Type"] == "HttpApi" and (event["Properties"]["Method"], event["Properties"]["Path"]) == (method, path):
                settings = event["Properties"].get("RouteSettings") or deployed.properties("HttpApi")["DefaultRouteSettings"]
                return float(settings["ThrottlingRateLimit"]), float(settings["ThrottlingBurstLimit"])
    raise AssertionError(f"no route {method} {path}")


def test_prod_reserves_concurrency_for_the_functions_a_burst_must_not_starve_and_leaves_the_rest_unreserved():
    reserved = reservations(stack("prod"))
    assert set(reserved) == RESERVED
    assert all(amount >= 1 for amount in reserved.values()), reserved
    # The admitter starts every minute and runs up to 75 s: two runs overlap at a minute's edge.
    assert reserved["AdmitEventQueuesFunction"] >= 2
    assert ACCOUNT_CONCURRENCY - sum(reserved.values()) >= LAMBDA_MIN_UNRESERVED
    # The purchase path keeps most of the account (docs/operations.md states the arithmetic).
    assert sum(reserved.values()) <= ACCOUNT_CONCURRENCY // 5


# Seconds a request of a reserved function takes, warm, by the round trips it makes
# (docs/performance.md): a webhook one Stripe call and a few DynamoDB ones, verify two Stripe reads.
# Assumed, not measured against the real providers: Stripe answers in 0.1-0.3 s from AWS.
RESERVED_ROUTES = {
    "StripeWebhookFunction": (("POST", "/api/v1/payments/webhooks/stripe/"), 0.3),
    "PayPalWebhookFunction": (("POST", "/api/v1/payments/webhooks/paypal/"), 0.3),
    "VerifyTicketPaymentFunction": (("POST", "/api/payments/verify/"), 0.6),
}


def test_a_reserved_functions_route_throttle_refuses_before_its_reservation_does():
    # Beyond its reservation Lambda refuses, and API Gateway answers that as a 500; the route's own
    # throttle answers 429 without running anything. So the route's rate, at the function's duration,
    # must fit the reservation, and the purchases' sessions must fit the webhooks' and verify's routes.
    deployed = stack("prod")
    reserved = reservations(deployed)
    sessions = float(deployed.parameters["StripeSessionRate"])
    for function, (route, seconds) in RESERVED_ROUTES.items():
        rate, _ = route_throttle(deployed, *route)
        assert rate * seconds <= reserved[function], (function, rate, reserved[function])
        assert rate >= 2 * sessions, function  # two deliveries, or a return and a retry, a session


def test_dev_and_the_templates_defaults_reserve_nothing_and_one_switch_turns_every_reservation_on_and_off():
    # A fresh account's quota is often 10 in all: any reservation would fail the deploy there.
    assert reservations(stack("dev")) == reservations(stack(None)) == {}
    assert set(reservations(stack("dev", ReserveConcurrency="true"))) == RESERVED
    assert reservations(stack("prod", ReserveConcurrency="false")) == {}


def test_the_purchase_route_is_throttled_at_stripes_session_rate_unless_set():
    purchase = ("POST", "/api/payments/create-payment-intent/")
    for stage in ("prod", "dev", None):
        deployed = stack(stage)
        rate = float(deployed.parameters["StripeSessionRate"])
        assert route_throttle(deployed, *purchase) == (rate, rate)
    assert route_throttle(stack("prod", StripeSessionRate="100"), *purchase) == (100, 100)
    # A free on-sale makes no Checkout Session: the route's own limit, when given, wins.
    assert route_throttle(stack("prod", CheckoutRateLimit="2000", CheckoutBurstLimit="4000"), *purchase) == (2000, 4000)


def test_the_queue_routes_take_an_on_sales_arrivals_within_the_counters_ceiling():
    for stage in ("prod", None):
        deployed = stack(stage)
        join_rate, join_burst = route_throttle(deployed, "POST", "/api/events/{event_id}/queue/")
        poll_rate, poll_burst = route_throttle(deployed, "GET", "/api/events/{event_id}/queue/")
        # 200,000 buyers arriving within a minute are let in at the edge, and no faster than the
        # place counters take them.
        assert math.ceil(ON_SALE_BUYERS / ON_SALE_SECONDS) <= join_rate <= join_burst <= PLACE_COUNTERS_WRITES
        # Polls have a limit of their own (not the event page's), at least the joins': every buyer
        # who joined polls.
        assert join_rate <= poll_rate <= poll_burst


def test_prods_on_sale_routes_fit_the_accounts_request_rate_and_the_tickets_tables_reads():
    deployed = stack("prod")
    join = route_throttle(deployed, "POST", "/api/events/{event_id}/queue/")[0]
    poll = route_throttle(deployed, "GET", "/api/events/{event_id}/queue/")[0]
    page = route_throttle(deployed, "GET", "/api/events/{event_id}/")[0]
    purchase = route_throttle(deployed, "POST", "/api/payments/create-payment-intent/")[0]
    # The event page every buyer loads is no longer the 200 a second that refused most of them...
    assert page > 200
    # ...yet all of it together stays under API Gateway's account rate, so that webhooks and
    # purchases never meet the account's throttle...
    webhooks = route_throttle(deployed, "POST", "/api/v1/payments/webhooks/stripe/")[0]
    status = route_throttle(deployed, "GET", "/api/events/{event_id}/queue/status/")[0]  # the CDN's misses, or direct polls
    assert join + poll + page + purchase + status < API_GATEWAY_ACCOUNT_RATE
    assert webhooks >= 3 * purchase  # each paid session is a few deliveries
    # ...and its reads, with a 64-shard event, fit the tickets table's on-demand quota.
    reads = join * JOIN_READS + poll * POLL_READS + page * MAX_SEAT_SHARDS + purchase * PURCHASE_READS + status * STATUS_READS
    assert reads <= TABLE_READ_QUOTA, reads


TABLES = {"TicketsTable": "TicketsTableWarm", "PaymentsTable": "PaymentsTableWarm"}


@pytest.mark.parametrize("table", sorted(TABLES))
def test_a_table_is_pre_warmed_to_the_units_given_and_only_then(table):
    prefix = TABLES[table]
    for stage in ("prod", "dev", None):
        assert "WarmThroughput" not in stack(stage).properties(table), stage
        unset = stack(stage, **{f"{prefix}ReadUnits": "0", f"{prefix}WriteUnits": "0"})
        assert "WarmThroughput" not in unset.properties(table), stage
    other = next(name for name in TABLES if name != table)
    both = stack("prod", **{f"{prefix}ReadUnits": "40000", f"{prefix}WriteUnits": "10000"})
    assert both.properties(table)["WarmThroughput"] == {"ReadUnitsPerSecond": "40000", "WriteUnitsPerSecond": "10000"}
    assert "WarmThroughput" not in both.properties(other)
    writes = stack("prod", **{f"{prefix}WriteUnits": "10000"})
    assert writes.properties(table)["WarmThroughput"] == {"WriteUnitsPerSecond": "10000"}
    reads = stack("prod", **{f"{prefix}ReadUnits": "40000"})
    assert reads.properties(table)["WarmThroughput"] == {"ReadUnitsPerSecond": "40000"}
