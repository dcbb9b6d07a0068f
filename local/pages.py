"""The few HTML pages the local stack shows a person (the home page, the local Stripe's Checkout page,
the local PayPal's approval page): one small stylesheet, inline, so that a page loads nothing else."""

from __future__ import annotations

import html

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
ul { padding-left: 1.2rem; } li { margin: .35rem 0; }
"""


def document(title: str, tag: str, body: str) -> str:
    """A whole page: ``body`` is HTML already escaped by the caller."""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f'<body><main><span class="tag">{html.escape(tag)}</span><h1>{html.escape(title)}</h1>{body}</main></body></html>'
    )
