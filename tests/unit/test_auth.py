import pytest

from payments.auth import caller_from_event, require_group
from payments.errors import Forbidden, Unauthorized


def event_with_claims(claims):
    return {"requestContext": {"authorizer": {"jwt": {"claims": claims}}}}


@pytest.mark.parametrize(
    ("claims", "groups"),
    [
        ({"sub": "u1", "cognito:groups": "[staff admin]"}, {"staff", "admin"}),  # HTTP API's flattened list
        ({"sub": "u1", "cognito:groups": ["staff"]}, {"staff"}),
        ({"sub": "u1", "cognito:groups": "staff"}, {"staff"}),  # a string claim is one group name
        ({"sub": "u1", "cognito:groups": "staff,ops"}, {"staff,ops"}),
        ({"sub": "u1", "cognito:groups": "not staff at all"}, {"not staff at all"}),
        ({"sub": "u1", "cognito:groups": '["staff"]'}, {'"staff"'}),
        ({"sub": "u1", "cognito:groups": [1, None, "staff"]}, {"staff"}),
        ({"sub": "u1", "groups": "[staff]", "roles": ["staff"], "custom:role": "staff", "role": "staff"}, set()),  # other claims: ignored
        ({"sub": "u1"}, set()),
    ],
)
def test_groups_are_read_exactly_from_the_one_configured_claim(claims, groups):
    caller = caller_from_event(event_with_claims(claims))
    assert caller.user_id == "u1"
    assert caller.groups == groups


def test_the_claim_is_configurable(monkeypatch):
    from payments.settings import get_settings

    monkeypatch.setenv("STAFF_CLAIM", "custom:groups")
    get_settings.cache_clear()
    try:
        caller = caller_from_event(event_with_claims({"sub": "u1", "custom:groups": "[staff]", "cognito:groups": "[admin]"}))
        assert caller.groups == {"staff"}
    finally:
        monkeypatch.delenv("STAFF_CLAIM")
        get_settings.cache_clear()


@pytest.mark.parametrize("event", [{}, {"requestContext": {}}, event_with_claims({}), event_with_claims({"sub": ""})])
def test_a_request_without_a_subject_is_unauthorized(event):
    with pytest.raises(Unauthorized):
        caller_from_event(event)


def test_staff_only_actions_refuse_other_callers():
    for near_miss in ("[staffing]", "[not-staff]", "staff member", "[Staff]", "admin,staff"):
        caller = caller_from_event(event_with_claims({"sub": "u1", "cognito:groups": near_miss}))
        with pytest.raises(Forbidden):
            require_group(caller, "staff")
    require_group(caller_from_event(event_with_claims({"sub": "u2", "cognito:groups": "[staff]"})), "staff")
