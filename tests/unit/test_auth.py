import pytest

from payments.auth import caller_from_event, require_group
from payments.errors import Forbidden, Unauthorized


def event_with_claims(claims):
    return {"requestContext": {"authorizer": {"jwt": {"claims": claims}}}}


@pytest.mark.parametrize(
    ("claims", "groups"),
    [
        ({"sub": "u1", "cognito:groups": "[staff admin]"}, {"staff", "admin"}),
        ({"sub": "u1", "cognito:groups": ["staff"]}, {"staff"}),
        ({"sub": "u1", "groups": "staff,ops"}, {"staff", "ops"}),
        ({"sub": "u1", "roles": '["staff"]'}, {"staff"}),
        ({"sub": "u1"}, set()),
    ],
)
def test_groups_are_read_from_the_forms_http_api_hands_over(claims, groups):
    caller = caller_from_event(event_with_claims(claims))
    assert caller.user_id == "u1"
    assert caller.groups == groups


@pytest.mark.parametrize("event", [{}, {"requestContext": {}}, event_with_claims({}), event_with_claims({"sub": ""})])
def test_a_request_without_a_subject_is_unauthorized(event):
    with pytest.raises(Unauthorized):
        caller_from_event(event)


def test_staff_only_actions_refuse_other_callers():
    caller = caller_from_event(event_with_claims({"sub": "u1", "cognito:groups": "[staffing]"}))
    with pytest.raises(Forbidden):
        require_group(caller, "staff")
    require_group(caller_from_event(event_with_claims({"sub": "u2", "cognito:groups": "[staff]"})), "staff")
