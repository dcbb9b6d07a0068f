"""The caller, as API Gateway's JWT authorizer (or the local runner) hands over its claims."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from payments.errors import Forbidden, Unauthorized

# Claims that may carry a caller's groups or roles, in the order they are consulted.
GROUP_CLAIMS = ("cognito:groups", "groups", "roles", "custom:role", "role")


@dataclass(frozen=True)
class Caller:
    user_id: str
    groups: frozenset[str]

    def is_in(self, group: str) -> bool:
        return group in self.groups


def _parse_groups(value: Any) -> set[str]:
    # HTTP API flattens array claims into strings such as "[staff admin]".
    if isinstance(value, (list, tuple)):
        return {str(item) for item in value}
    if isinstance(value, str):
        return {part for part in re.split(r"[\s,\[\]\"]+", value) if part}
    return set()


def caller_from_event(event: dict[str, Any]) -> Caller:
    claims = (((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    user_id = claims.get("sub")
    if not isinstance(user_id, str) or not user_id:
        raise Unauthorized()
    groups: set[str] = set()
    for claim in GROUP_CLAIMS:
        groups |= _parse_groups(claims.get(claim))
    return Caller(user_id=user_id, groups=frozenset(groups))


def require_group(caller: Caller, group: str) -> None:
    if not caller.is_in(group):
        raise Forbidden("Staff role required")
