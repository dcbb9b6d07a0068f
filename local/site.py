"""What the local stack serves besides the API: a home page, the OpenAPI document, a browsable page for
it (Swagger UI, shipped by the swagger-ui-py package), and the demo frontend."""

from __future__ import annotations

import html
import json
import mimetypes
from pathlib import Path

import swagger_ui
import yaml
from werkzeug.wrappers import Request, Response

from local import pages
from local.template import ROOT

OPENAPI = ROOT / "docs" / "openapi.yaml"
SWAGGER_STATIC = Path(swagger_ui.__file__).parent / "static"
DEMO = ROOT / "demo"

DOCS_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Payments API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", persistAuthorization: true});</script>
</body></html>"""


def _file(base: Path, relative: str) -> Response | None:
    try:
        target = (base / relative).resolve()
        if not target.is_relative_to(base.resolve()) or not target.is_file():
            return None
    except (ValueError, OSError):  # a name no file can have (a NUL, too long): no such file
        return None
    mimetype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return Response(target.read_bytes(), mimetype=mimetype)


def _not_found() -> Response:
    return Response(json.dumps({"error": "Not Found"}), status=404, mimetype="application/json")


def home_page(api_url: str) -> str:
    """GET /: where a person who opened the stack's address in a browser goes next."""
    base = html.escape(api_url)
    return pages.document(
        "Local payments API",
        "local stack",
        f'<p class="muted">The API answers at <code>{base}/api/...</code>; every route but the webhooks needs a bearer token.</p><ul>'
        '<li><a href="/docs">API reference</a>: every route with its bodies and examples (Swagger UI)</li>'
        '<li><a href="/demo/">Demo frontend</a>: sign in, buy a free and a paid ticket, check in at the door '
        "(start the stack with <code>make demo</code> for the Checkout pages to come back to it)</li>"
        '<li><a href="/openapi.yaml">openapi.yaml</a>: the OpenAPI 3.1 document</li>'
        "<li>A token: <code>make token USER_ID=alice</code> (<code>STAFF=1</code> for staff), from the repository</li>"
        '<li>The documentation: <code>make docs-serve</code>, then <a href="http://127.0.0.1:8000">127.0.0.1:8000</a></li></ul>',
    )


def serve(request: Request, api_url: str) -> Response | None:
    """The answer for a site path, or None when the path belongs to the API."""
    path = request.path
    if path == "/" and request.method in ("GET", "HEAD"):
        return Response(home_page(api_url), mimetype="text/html")
    if path == "/_local/returned":
        # A provider's page sent a person's browser back to a frontend that does not run.
        return Response(pages.returned_page(request.args.get("to", "")), mimetype="text/html")
    if path == "/openapi.yaml":
        return Response(OPENAPI.read_bytes(), mimetype="application/yaml")
    if path == "/openapi.json":
        document = yaml.safe_load(OPENAPI.read_text())
        document["servers"] = [{"url": api_url, "description": "This local stack"}]
        return Response(json.dumps(document), mimetype="application/json")
    if path in ("/docs", "/docs/"):
        return Response(DOCS_PAGE, mimetype="text/html")
    if path.startswith("/docs/static/"):
        return _file(SWAGGER_STATIC, path.removeprefix("/docs/static/")) or _not_found()
    if path == "/demo" or path.startswith("/demo/"):
        relative = path.removeprefix("/demo").lstrip("/")
        # A single-page frontend: every address that is not a file is the page itself.
        page = _file(DEMO, relative) if relative and "." in relative.rsplit("/", 1)[-1] else _file(DEMO, "index.html")
        return page or _not_found()
    return None
