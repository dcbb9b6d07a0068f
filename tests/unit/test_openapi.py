"""docs/openapi.yaml is a valid OpenAPI 3.1 document, and it and the template describe the same routes."""

import yaml
from openapi_spec_validator import validate

from local.template import ROOT, load_template, resources_of_type

DOCUMENT = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())


def template_routes():
    return {
        (
            event["Properties"]["Method"].lower(),
            event["Properties"]["Path"],
            event["Properties"].get("Auth", {}).get("Authorizer") != "NONE",
        )
        for resource in resources_of_type(load_template(), "AWS::Serverless::Function").values()
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "HttpApi"
    }


def document_routes():
    return {
        (method, path, operation.get("security", DOCUMENT["security"]) != [])
        for path, operations in DOCUMENT["paths"].items()
        for method, operation in operations.items()
    }


def test_the_document_is_valid_openapi_3_1():
    assert DOCUMENT["openapi"].startswith("3.1")
    validate(DOCUMENT)


def test_the_document_and_the_template_have_the_same_routes_and_the_same_open_ones():
    assert document_routes() == template_routes()


def test_every_error_answer_is_the_contracts_error_body():
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    name = response["$ref"].rsplit("/", 1)[-1]
                    schema = DOCUMENT["components"]["responses"][name]["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)


def test_every_request_body_has_an_example():
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody")
            if body and "webhooks" not in path:
                assert "example" in body["content"]["application/json"], (method, path)
