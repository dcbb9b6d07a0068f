"""The endpoint tables a reader finds first say what template.yaml routes: every route, and no other;
the README stays a short way in, and every page it points to exists."""

import re
from pathlib import Path

import pytest

from local.template import load_template, resources_of_type

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| `(GET|POST|PUT|PATCH|DELETE) (/[^`]*)` \|", flags=re.MULTILINE)


def template_routes() -> set[tuple[str, str]]:
    return {
        (event["Properties"]["Method"].upper(), event["Properties"]["Path"])
        for function in resources_of_type(load_template(), "AWS::Serverless::Function").values()
        for event in (function["Properties"].get("Events") or {}).values()
        if event["Type"] == "HttpApi"
    }


@pytest.mark.parametrize("page", ["README.md", "docs/api.md"])
def test_the_endpoint_table_lists_every_route_of_the_template_and_no_other(page):
    rows = ROW.findall((ROOT / page).read_text())
    assert len(rows) == len(set(rows)), f"{page} lists a route twice"
    listed = set(rows)
    routes = template_routes()
    assert routes, "no routes read from template.yaml"
    assert not routes - listed, f"{page} lacks {sorted(routes - listed)}"
    assert not listed - routes, f"{page} lists routes the template does not have: {sorted(listed - routes)}"


def test_the_readme_is_short_and_its_links_reach_pages_that_exist():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 150, "the README is a way in: the rest belongs in docs/"
    links = re.findall(r"\]\((docs/[^)#]+)", text)
    assert links, "the README points to no page of the documentation"
    for link in links:
        assert (ROOT / link).is_file(), link
