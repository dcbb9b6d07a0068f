import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from local.jwt_keys import LocalAuthority
from payments.auth import caller_from_event, groups_of, require_group
from payments.errors import Forbidden, Unauthorized
from payments.local_authorizer import claims_as_http_api_passes_them
from payments.settings import Settings, is_group_name


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


# Issue 25, item 2: a group named "not staff" was staff (the flattened claim was split on spaces
# whatever it held). One group name per list element; a flattened claim split only where HTTP API
# puts its separators; near misses refused.
@pytest.mark.parametrize(
    "value",
    [
        "[staff",
        "staff]",
        "[ staff ]",
        "[staff ]",
        "[ staff]",
        "[staff  admin]",
        "[admin\tstaff]",
        "[admin\nstaff]",
        "[admin\u00a0staff]",
        "[staff\u200b]",
        "Staff",
        "[Staff]",
        "staff,admin",
        "[staff,admin]",
        " staff",
        "staff ",
        "[[staff]]",
        "[]",
        "[",
        "]",
        ["not staff"],
        ["staff "],
        [" staff"],
        ["[staff]"],
        ["Staff"],
        [["staff"]],
        {"staff": True},
        True,
        7,
    ],
)
def test_near_misses_of_the_staff_group_are_refused(value):
    caller = caller_from_event(event_with_claims({"sub": "u1", "cognito:groups": value}))
    assert not caller.is_in("staff")
    with pytest.raises(Forbidden):
        require_group(caller, "staff")


@pytest.mark.parametrize("value", ["staff", ["staff"], ["admin", "staff"], "[staff]", "[admin staff]", "[staff admin ops]", "[[x] staff]"])
def test_the_staff_group_as_a_list_element_or_a_whole_flattened_part_is_staff(value):
    require_group(caller_from_event(event_with_claims({"sub": "u1", "cognito:groups": value})), "staff")


def test_a_list_element_with_a_space_is_one_group_name():
    assert groups_of(["not staff", "ops"]) == {"not staff", "ops"}


def flattened(names):
    """What API Gateway's HTTP API hands to Lambda for an array claim (and the local runner too)."""
    return claims_as_http_api_passes_them({"cognito:groups": names})["cognito:groups"]


# Group names as Cognito allows them (its CreateGroup pattern): letters, marks, symbols, digits,
# punctuation; near "staff" often, to find the near misses.
COGNITO_NAMES = st.one_of(
    st.sampled_from(["staff", "Staff", "staffs", "[staff", "staff]", "[staff]", "staff,admin", "not", "not-staff", "admin", "ops"]),
    st.text(st.characters(categories=["L", "M", "S", "N", "P"]), min_size=1, max_size=12),
).filter(is_group_name)
ANY_NAMES = st.one_of(COGNITO_NAMES, st.text(max_size=12), st.sampled_from(["not staff", " staff", "staff ", "a staff b", ""]))


@settings(max_examples=500)
@given(st.lists(ANY_NAMES, max_size=6))
def test_a_list_claim_grants_staff_iff_the_exact_name_is_an_element(names):
    assert caller_from_event(event_with_claims({"sub": "u1", "cognito:groups": names})).is_in("staff") == ("staff" in names)


@settings(max_examples=500)
@given(st.lists(COGNITO_NAMES, max_size=6))
def test_a_flattened_claim_of_cognito_group_names_grants_staff_iff_the_exact_name_is_an_element(names):
    caller = caller_from_event(event_with_claims({"sub": "u1", "cognito:groups": flattened(names)}))
    assert caller.is_in("staff") == ("staff" in names)
    if names:
        assert caller.groups == set(names)


@settings(max_examples=1000)
@given(st.one_of(st.text(max_size=40), st.lists(ANY_NAMES, max_size=6).map(lambda names: "[" + " ".join(names) + "]")))
def test_no_string_grants_staff_unless_it_is_the_name_or_a_flattened_list_holding_it_whole(value):
    if caller_from_event(event_with_claims({"sub": "u1", "cognito:groups": value})).is_in("staff"):
        parts = value[1:-1].split(" ") if value.startswith("[") and value.endswith("]") and len(value) >= 2 else None
        assert value == "staff" or (parts is not None and "staff" in parts and all(is_group_name(part) for part in parts))


@pytest.mark.parametrize("name", ["not staff", "staff ", " staff", "", "staff\t", "a\nb", "x" * 129, "staff\u200b"])
def test_a_staff_group_that_a_flattened_claim_could_split_is_refused_in_settings(name):
    with pytest.raises(ValidationError, match="STAFF_GROUP"):
        Settings.model_validate({"TICKETS_TABLE": "t", "PAYMENTS_TABLE": "p", "STAFF_GROUP": name})


def test_the_local_issuer_makes_no_group_name_cognito_could_not():
    authority = LocalAuthority(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with pytest.raises(ValueError, match="not staff"):
        authority.issue("u1", groups=["not staff"])
    claims = authority.verify(f"Bearer {authority.issue('u1', groups=['ops', '[staff'])}")
    assert claims["cognito:groups"] == ["[staff", "ops"]
