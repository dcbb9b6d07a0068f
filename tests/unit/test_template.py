"""The template is the one source of truth: every function it names exists, has a sample event,
and only the table permissions its code needs."""

import ast

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


def test_only_webhooks_are_outside_the_jwt_authorizer():
    for name, resource in FUNCTIONS.items():
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] != "HttpApi":
                continue
            open_route = event["Properties"].get("Auth", {}).get("Authorizer") == "NONE"
            assert open_route == ("/webhooks/" in event["Properties"]["Path"]), name


def test_read_only_functions_get_read_only_policies():
    policies = FUNCTIONS["GetEventFunction"]["Properties"]["Policies"]
    assert [next(iter(policy)) for policy in policies] == ["DynamoDBReadPolicy"]


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
