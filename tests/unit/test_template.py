"""The template is the one source of truth: every function it names exists, has a sample event,
and only the table permissions its code needs."""

import ast
from typing import Any

from local.template import ROOT, load_template, resources_of_type

TEMPLATE = load_template()
FUNCTIONS = resources_of_type(TEMPLATE, "AWS::Serverless::Function")


def test_every_function_has_a_handler_and_a_sample_event():
    assert FUNCTIONS
    for name, resource in FUNCTIONS.items():
        code_uri = ROOT / resource["Properties"]["CodeUri"]
        tree = ast.parse((code_uri / "app.py").read_text())
        handlers = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
        assert "lambda_handler" in handlers, name
        assert (ROOT / "events" / f"{code_uri.name}.json").exists(), name


def test_no_sample_event_closes_a_sale_or_pauses_it():
    # The samples are the first requests `sam local invoke` and the cold-start benchmark send: one that
    # closed the sale (a closes_at already past) stopped every later purchase of the benchmark's event.
    import json
    import time

    for path in sorted((ROOT / "events").glob("*.json")):
        body = json.loads(json.loads(path.read_text()).get("body") or "{}")
        if isinstance(body, dict):
            assert body.get("closes_at") is None or body["closes_at"] > time.time() + 365 * 86400, path.name
            assert body.get("sales_paused") in (None, False), path.name


def test_only_webhooks_and_the_queue_status_are_outside_the_jwt_authorizer():
    # Each authenticated otherwise: the webhooks by the provider's signature, the queue's status by the
    # buyer's queue pass (a shared cache cannot key on each buyer's token; docs/on-sales.md).
    for name, resource in FUNCTIONS.items():
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] != "HttpApi":
                continue
            open_route = event["Properties"].get("Auth", {}).get("Authorizer") == "NONE"
            path = event["Properties"]["Path"]
            assert open_route == ("/webhooks/" in path or path == "/api/events/{event_id}/queue/status/"), name


def test_read_only_functions_get_read_only_policies():
    policies = FUNCTIONS["GetEventFunction"]["Properties"]["Policies"]
    assert [next(iter(policy)) for policy in policies] == ["DynamoDBReadPolicy"]


def test_the_attendee_export_only_reads_the_tickets_table_and_the_index_it_lists():
    [statement] = FUNCTIONS["GetEventAttendeesFunction"]["Properties"]["Policies"][0]["Statement"]
    assert sorted(statement["Action"]) == ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query"]
    assert len(statement["Resource"]) == 2 and "TicketsByEventShard" in str(statement["Resource"][1])


def test_seed_paths_are_routed_with_their_trailing_slash():
    paths = {
        (event["Properties"]["Method"], event["Properties"]["Path"])
        for resource in FUNCTIONS.values()
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "HttpApi"
    }
    assert {
        ("POST", "/api/payments/create-payment-intent/"),
        ("POST", "/api/payments/verify/"),
        ("POST", "/api/payments/cancel/"),
        ("POST", "/api/v1/payments/webhooks/stripe/"),
    } <= paths


def limit_parameter(value: dict[str, Any]) -> str:
    """The parameter a limit is set by: its Ref, or for ``!If [follows, X, !Ref P]`` the route's own P
    (what the limit is when set; tests/unit/test_template_on_sale.py resolves the condition)."""
    return str(value["Ref"] if "Ref" in value else value["Fn::If"][2]["Ref"])


def route_limits() -> dict[str, tuple[str, str] | None]:
    """Each route's throttling parameters (rate, burst), or None where the stage's default applies."""
    limits: dict[str, tuple[str, str] | None] = {}
    for resource in FUNCTIONS.values():
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] != "HttpApi":
                continue
            settings = event["Properties"].get("RouteSettings")
            route = f"{event['Properties']['Method']} {event['Properties']['Path']}"
            limits[route] = (
                None
                if settings is None
                else (limit_parameter(settings["ThrottlingRateLimit"]), limit_parameter(settings["ThrottlingBurstLimit"]))
            )
            assert settings is None or settings.get("DetailedMetricsEnabled") is True, route  # a route's settings replace the default's
    return limits


def default(parameter: str) -> int:
    return int(TEMPLATE["Parameters"][parameter]["Default"])


def test_every_route_that_writes_has_its_own_limit_and_the_expensive_ones_lower():
    limits = route_limits()
    # Only reads go by the stage's default.
    assert sorted(route for route, limit in limits.items() if limit is None) == [
        "GET /api/events/",
        "GET /api/events/{event_id}/",
        "GET /api/tickets/",
        "GET /api/tickets/{ticket_id}/",
    ]
    assert limits["POST /api/tickets/check-in/"] == ("DoorRateLimit", "DoorBurstLimit")
    assert limits["GET /api/events/{event_id}/sales/"] == ("StaffRateLimit", "StaffBurstLimit")
    # The queue's polls are its own reads, not the event page's.
    assert limits["GET /api/events/{event_id}/queue/"] == ("QueuePollRateLimit", "QueuePollBurstLimit")
    # The purchase: StripeSessionRate unless its own limit is set (0 by default).
    purchase = "POST /api/payments/create-payment-intent/"
    assert limits[purchase] == ("CheckoutRateLimit", "CheckoutBurstLimit") and default("CheckoutRateLimit") == 0
    assert limits["POST /api/payments/verify/"] == limits["POST /api/payments/cancel/"] == ("PurchaseRateLimit", "PurchaseBurstLimit")
    for route, limit in limits.items():
        if limit is None or route == purchase:
            continue
        rate, burst = limit
        assert default(burst) >= default(rate) > 0, route
        # A route's own limit replaces the default route's; none may pass API Gateway's account rate.
        assert default(rate) <= 10_000, route
    provider_routes = [
        route for route in limits if "/payments/stripe/" in route or route.endswith(("/create-order/", "/capture-order/", "/get-order/"))
    ]
    assert len(provider_routes) == 9 and all(limits[route] == ("ProviderRateLimit", "ProviderBurstLimit") for route in provider_routes)
    assert default("ProviderRateLimit") < 100  # Stripe's live-mode default rate
    assert default("StaffRateLimit") < default("ProviderRateLimit") < default("PurchaseRateLimit") <= default("ThrottlingRateLimit")
    assert default("StaffRateLimit") < default("DoorRateLimit")
