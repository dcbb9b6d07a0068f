"""Stripe's form encoding of nested parameters (``line_items[0][price_data][currency]=usd``)."""

from __future__ import annotations

import re
from typing import Any

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        converted = {key: _listify(value) for key, value in node.items()}
        if converted and all(key.isdigit() for key in converted):
            return [converted[key] for key in sorted(converted, key=int)]
        return converted
    return node


def decode(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for raw_key, value in pairs:
        match = _KEY.match(raw_key)
        if not match:
            continue
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for index, raw_part in enumerate(parts):
            part = raw_part or str(len(node))  # "tags[]=a" appends
            if index == len(parts) - 1:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    result = _listify(root)
    assert isinstance(result, dict)
    return result
