"""The caller, as API Gateway's JWT authorizer (or the local runner) hands over its claims.

Staff rights come from one claim only (``STAFF_CLAIM``, default ``cognito:groups``) and only by
exact membership: a list claim's items, or a string claim as one group name. HTTP API hands a list
claim over flattened to a string, ``"[staff admin]"``; that form is read as the list it was.

Under ``sam local``, whose local API does not run JWT authorizers, the function verifies the token
itself against the local development key (``payments.local_authorizer``); nowhere else."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from payments.errors import Forbidden, Unauthorized
from payments.settings import get_settings


@dataclass(frozen=True)
class Caller:
    user_id: str
    groups: frozenset[str]

    def is_in(self, group: str) -> bool:
        return group in self.groups


def groups_of(value: Any) -> frozenset[str]:
    """The group names a claim value holds, read exactly: never searched for words."""
    if isinstance(value, list):
        return frozenset(item for item in value if isinstance(item, str) and item)
    if not isinstance(value, str) or not value:
        return frozenset()
    if value.startswith("[") and value.endswith("]"):
        return frozenset(value[1:-1].split(" ")) - {""}
    return frozenset([value])


def caller_from_event(event: dict[str, Any]) -> Caller:
    claims = (((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    if not claims and os.environ.get("AWS_SAM_LOCAL") == "true" and os.environ.get("SAM_LOCAL_AUTHORIZER"):
        claims = _claims_under_sam_local(event)
    user_id = claims.get("sub")
    if not isinstance(user_id, str) or not user_id:
        raise Unauthorized()
    return Caller(user_id=user_id, groups=groups_of(claims.get(get_settings().staff_claim)))


def _claims_under_sam_local(event: dict[str, Any]) -> dict[str, str]:
    from payments import local_authorizer

    try:
        return local_authorizer.claims_under_sam_local(event)
    except local_authorizer.TokenRejected as rejected:
        raise Unauthorized(str(rejected)) from None


def require_group(caller: Caller, group: str) -> None:
    if not caller.is_in(group):
        raise Forbidden("Staff role required")
