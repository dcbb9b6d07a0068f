"""payments.dynamodb converts items as boto3's own TypeSerializer/TypeDeserializer do (boto3 is the
reference here; the layer avoids importing it at cold start)."""

from decimal import Decimal

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from payments.dynamodb import deserialize, from_item, serialize, to_attributes

VALUES = [
    "text",
    "",
    "unicode ✓ 🎟️",
    0,
    42,
    -7,
    Decimal("29.99"),
    Decimal("1E+3"),
    True,
    False,
    None,
    b"\x00\xff",
    {"nested": {"n": 1, "s": "x", "l": [1, "a", None]}},
    [Decimal("0.5"), {"k": True}],
]


@pytest.mark.parametrize("value", VALUES)
def test_serialising_matches_boto3(value):
    assert serialize(value) == TypeSerializer().serialize(value)


@pytest.mark.parametrize("value", VALUES)
def test_deserialising_matches_boto3(value):
    attribute = TypeSerializer().serialize(value)
    assert deserialize(attribute) == TypeDeserializer().deserialize(attribute)


def test_sets_are_read_as_boto3_reads_them():
    for attribute in ({"SS": ["a", "b"]}, {"NS": ["1", "2.5"]}):
        assert deserialize(attribute) == TypeDeserializer().deserialize(attribute)


def test_floats_are_refused_like_boto3_refuses_them():
    with pytest.raises(TypeError):
        serialize(1.5)
    with pytest.raises(TypeError):
        TypeSerializer().serialize(1.5)


def test_items_round_trip_and_none_attributes_are_left_out():
    item = to_attributes({"pk": "TICKET#1", "quantity": 2, "paid_at": None, "price": Decimal("12.50")})
    assert "paid_at" not in item
    assert from_item(item) == {"pk": "TICKET#1", "quantity": 2, "price": Decimal("12.50")}
