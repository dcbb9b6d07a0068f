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
    """Every error a function writes is ``{"error"}``; a refused token is API Gateway's own 401."""
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    name = response["$ref"].rsplit("/", 1)[-1]
                    schema = DOCUMENT["components"]["responses"][name]["content"]["application/json"]["schema"]
                    expected = "GatewayMessage" if status == "401" else "Error"
                    assert schema == {"$ref": f"#/components/schemas/{expected}"}, (method, path, status)


def test_every_request_body_has_an_example():
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody")
            if body and "webhooks" not in path:
                assert "example" in body["content"]["application/json"], (method, path)


# The request bodies: the document against the models' own JSON Schemas -----------------------------
CONSTRAINTS = ("pattern", "maxLength", "minLength")


def resolved(schema):
    """A schema with its local ``$ref``s followed (one level of ``allOf`` merged)."""
    while "$ref" in schema:
        schema = DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def json_types(schema, definitions=None):
    """The JSON types a property schema admits, ``null`` left out (optional is said by ``required``)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = (definitions or {}).get(name) or resolved(schema)
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return frozenset(kinds) - {"null"}
    alternatives = schema.get("oneOf") or schema.get("anyOf") or []
    return frozenset().union(*(json_types(item, definitions) for item in alternatives))


def constraints(schema):
    """The static constraints of a property (of its non-null alternative, where it is optional)."""
    alternatives = [item for item in schema.get("anyOf", []) if item.get("type") != "null"]
    if len(alternatives) == 1:
        schema = alternatives[0]
    schema = resolved(schema) if "$ref" in schema else schema
    return {key: schema[key] for key in CONSTRAINTS if key in schema}


def request_bodies():
    """(route, schema name, model) for every route with a JSON body but the webhooks, the model being
    the one its handler parses the body with."""
    import re

    from payments.models import paypal, stripe, tickets

    models = {name: getattr(module, name) for module in (tickets, stripe, paypal) for name in dir(module)}
    found = []
    for resource in resources_of_type(load_template(), "AWS::Serverless::Function").values():
        handler = (ROOT / resource["Properties"]["CodeUri"] / "app.py").read_text()
        parsed = re.search(r"parse_body\(\s*event,\s*(\w+)", handler)
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] != "HttpApi" or "webhooks" in event["Properties"]["Path"]:
                continue
            operation = DOCUMENT["paths"][event["Properties"]["Path"]][event["Properties"]["Method"].lower()]
            if "requestBody" in operation:
                name = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
                assert parsed, f"{event['Properties']['Path']}: the document has a body the handler does not parse"
                found.append((event["Properties"]["Path"], name, models[parsed[1]]))
            else:
                assert not parsed, f"{event['Properties']['Path']}: the handler parses a body the document does not describe"
    return found


def test_every_request_body_of_the_document_is_the_model_its_handler_validates():
    bodies = request_bodies()
    assert len(bodies) >= 15
    for path, name, model in bodies:
        assert name == model.__name__, path
        documented = resolved({"$ref": f"#/components/schemas/{name}"})
        generated = model.model_json_schema()
        definitions = generated.get("$defs", {})
        assert set(documented["properties"]) == set(generated["properties"]), name
        assert set(documented.get("required", [])) == set(generated.get("required", [])), name
        assert (documented.get("additionalProperties") is False) == (generated.get("additionalProperties") is False), name
        for field, schema in generated["properties"].items():
            document = documented["properties"][field]
            assert json_types(document) == json_types(schema, definitions), (name, field)
            assert constraints(document) == constraints(schema), (name, field)


def test_a_drifting_document_is_caught():
    """The comparison above can fail: a body model with a field, a limit or a pattern the document
    lacks is told apart."""
    from payments.models.tickets import CheckInRequest

    generated = CheckInRequest.model_json_schema()
    documented = resolved({"$ref": "#/components/schemas/CheckInRequest"})
    assert constraints(documented["properties"]["ticket_code"]) == constraints(generated["properties"]["ticket_code"])
    widened = {**generated["properties"]["ticket_code"], "maxLength": 36}
    assert constraints(documented["properties"]["ticket_code"]) != constraints(widened)
    assert json_types({"type": ["integer", "null"]}) != json_types({"type": "string"})


def test_no_schema_keyword_is_left_empty():
    """YAML's flow style splits ``{description: Major units, with ...}`` at the comma into a second,
    empty keyword: the document said less than it was written to say."""

    def empty(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("example", "examples"):
                    continue
                if value is None:
                    yield f"{path}/{key}"
                yield from empty(value, f"{path}/{key}")
        elif isinstance(node, list):
            for index, item in enumerate(node):
                yield from empty(item, f"{path}/{index}")

    assert list(empty(DOCUMENT, "")) == []
