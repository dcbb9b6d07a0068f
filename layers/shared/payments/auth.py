"""The caller, as API Gateway's JWT authorizer (or the local runner) hands over its claims.

Staff rights come from one claim only (``STAFF_CLAIM``, default ``cognito:groups``) and only by
exact membership of the configured group (``STAFF_GROUP``), never by searching text:

- a list claim (JSON types, as a test or a typed authorizer hands it): each element is one group
  name, compared whole;
- HTTP API's JWT authorizer hands every claim to Lambda as a string, and an array flattened to
  ``"[staff admin]"``: the elements joined by single spaces inside one pair of brackets. That form
  is split only at those spaces, and read only when every part is a group name as Cognito allows
  one (no whitespace, no control character: CreateGroup's pattern); anything else in brackets
  (``"[ staff ]"``, ``"[staff  admin]"``, a tab) is not a flattened list of group names and grants
  nothing;
- any other string is one group name, compared whole (``"staff"``; ``"Staff"``, ``"staff,admin"``,
  ``"[staff"`` and ``"staff]"`` are not it).

The flattening loses where a name with a space would end, so a list holding ``"not staff"`` and a
list holding ``"not"`` and ``"staff"`` both arrive as ``"[not staff]"``. The rule above reads it as
the second, which is exact wherever group names hold no whitespace: Cognito's never do, the
configured staff group is held to that in settings, and the local runner issues no other. With an
identity provider whose group names may hold spaces, point ``STAFF_CLAIM`` at a claim of one
value (a string holding just the staff group's name) rather than at its list of groups.

Under ``sam local``, whose local API does not run JWT authorizers, the function verifies the token
itself against the local development key (``payments.local_authorizer``); nowhere else."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from payments.errors import AuthorizerRefused, Forbidden, Unauthorized
from payments.settings import get_settings, is_group_name


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
    if len(value) >= 2 and value.startswith("[") and value.endswith("]"):
        return _flattened(value[1:-1])
    return frozenset([value])


def _flattened(inner: str) -> frozenset[str]:
    """The names of an array HTTP API flattened to ``[a b]``; nothing when it cannot be one."""
    if not inner:
        return frozenset()
    names = inner.split(" ")
    if not all(is_group_name(name) for name in names):
        return frozenset()  # an empty part (two spaces, a space at either end) or whitespace in a part
    return frozenset(names)


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
        raise AuthorizerRefused(rejected.reason, headers={"www-authenticate": rejected.challenge()}) from None


def require_group(caller: Caller, group: str) -> None:
    if not caller.is_in(group):
        raise Forbidden("Staff role required")
