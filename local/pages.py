"""The few HTML pages the local stack shows a person (the home page, the local Stripe's Checkout page,
the local PayPal's approval page): one small stylesheet, inline, so that a page loads nothing else."""

from __future__ import annotations

import html
import json
import socket
from urllib.parse import parse_qs, quote, urlsplit

from werkzeug.wrappers import Request

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; background: #f6f7fb; color: #1f2430; margin: 0; }
main { max-width: 34rem; margin: 3rem auto; background: #fff; border-radius: 12px; padding: 2rem 2.25rem;
       box-shadow: 0 1px 3px rgba(0, 0, 0, .08), 0 8px 24px rgba(0, 0, 0, .06); }
h1 { font-size: 1.35rem; margin: 0 0 .25rem; }
.tag { display: inline-block; font-size: .75rem; letter-spacing: .04em; text-transform: uppercase; color: #6b7280;
       border: 1px solid #d1d5db; border-radius: 999px; padding: .1rem .6rem; margin-bottom: 1rem; }
.amount { font-size: 2rem; font-weight: 600; margin: 1rem 0 .25rem; }
.muted { color: #6b7280; }
form { display: flex; gap: .75rem; margin-top: 1.5rem; }
button { font: inherit; border-radius: 8px; padding: .6rem 1.2rem; cursor: pointer; border: 1px solid #d1d5db; background: #fff; }
button.primary { background: #4f46e5; border-color: #4f46e5; color: #fff; }
code { background: #f1f2f6; border-radius: 4px; padding: .05rem .3rem; }
a, code { overflow-wrap: anywhere; }
ul { padding-left: 1.2rem; } li { margin: .35rem 0; }
"""


def document(title: str, tag: str, body: str) -> str:
    """A whole page: ``body`` is HTML already escaped by the caller."""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f'<body><main><span class="tag">{html.escape(tag)}</span><h1>{html.escape(title)}</h1>{body}</main></body></html>'
    )


LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def answers(url: str) -> bool:
    """Whether something listens at a loopback address's port (other addresses are taken to answer:
    the local stack probes nothing beyond this machine)."""
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK:
        return True
    try:
        with socket.create_connection((parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)), timeout=0.5):
            return True
    except OSError:
        return False


def browser_return(request: Request, target: str, explained_at: str | None) -> str:
    """Where a fake's page sends the browser back: ``target`` (the frontend's return address), or,
    for a person's browser when no frontend runs there, the local stack's page saying what happened.
    Programs (tests, curl) always get ``target``: they read the address, they do not open it."""
    person = "text/html" in request.headers.get("Accept", "")
    if explained_at is None or not person or answers(target):
        return target
    return f"{explained_at}?to={quote(target, safe='')}"


def _call(method_path: str, body: dict[str, object]) -> str:
    return f"<p><code>{html.escape(method_path)}</code> with <code>{html.escape(json.dumps(body))}</code></p>"


def returned_page(target: str) -> str:
    """What happened, and what the frontend would do next, for a return address nothing answered."""
    parts = urlsplit(target)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    origin = f"{parts.scheme}://{parts.netloc}"
    ticket_id = int(query["ticket_id"]) if query.get("ticket_id", "").isdigit() else query.get("ticket_id")
    if parts.path.endswith("/payment/success"):
        what = "The payment went through at the local Stripe, and its webhook is on its way to the API."
        call = _call("POST /api/payments/verify/", {"session_id": query.get("session_id"), "ticket_id": ticket_id})
        after = "It answers with the paid ticket and its QR code (whether or not the webhook came first)."
    elif parts.path.endswith("/payment/cancel"):
        what = "The buyer left the Checkout page without paying: the seats are still reserved."
        call = _call("POST /api/payments/cancel/", {"ticket_id": ticket_id})
        after = "It releases the seats at once; otherwise the reservation expires by itself."
    elif parts.path.endswith("/paypal/return"):
        what = "The payer approved the order at the local PayPal; no money has moved yet."
        call = _call("POST /api/v1/payments/paypal/capture-order/", {"order_id": query.get("token")})
        after = "It captures the order: then the money has moved."
    elif parts.path.endswith("/paypal/cancel"):
        what = "The payer cancelled at the local PayPal: the order stays unapproved and nothing is owed."
        call, after = "", "There is nothing to call."
    else:
        what, call, after = "The provider sent the browser back to the frontend.", "", ""
    link = f'<a href="{html.escape(target)}">{html.escape(target)}</a>' if parts.scheme in ("http", "https") else html.escape(target)
    return document(
        "Back from the provider",
        "local stack",
        f"<p>{html.escape(what)}</p>"
        f'<p class="muted">The browser was to return to {link}, but no frontend answers at '
        f"<code>{html.escape(origin)}</code>, so the local stack shows this page instead. "
        "Start your frontend there, or run <code>make demo</code> to use the demo frontend.</p>"
        + (f"<p>A frontend would now call, with the buyer's token:</p>{call}" if call else "")
        + (f'<p class="muted">{html.escape(after)}</p>' if after else ""),
    )
