"""Where a ticket's seats come from in a sharded event (payments.domain.lifecycle.seat_parts)."""

from hypothesis import given
from hypothesis import strategies as st

from payments.domain.lifecycle import seat_parts, seat_shards_for, shard_capacities
from payments.limits import MAX_SEAT_SHARDS

availability = st.dictionaries(st.integers(0, 63), st.integers(0, 50), min_size=1, max_size=16)


@given(available=availability, quantity=st.integers(1, 120), start=st.integers(0, 1000))
def test_a_plan_takes_exactly_the_quantity_from_seats_that_are_there(available, quantity, start):
    parts = seat_parts(available, quantity, start)
    if sum(available.values()) < quantity:
        assert parts is None
        return
    assert parts is not None
    assert sum(parts.values()) == quantity
    assert all(0 < count <= available[shard] for shard, count in parts.items())
    if any(left >= quantity for left in available.values()):
        assert len(parts) == 1  # one shard when one has enough: one item written


def test_the_start_spreads_buyers_over_the_shards_with_enough():
    available = {0: 5, 1: 0, 2: 5, 3: 5}
    assert [seat_parts(available, 2, start) for start in range(4)] == [{0: 2}, {2: 2}, {2: 2}, {3: 2}]
    assert seat_parts({0: 1, 1: 3, 2: 2}, 5, 0) == {1: 3, 2: 2}  # fullest first: as few shards as possible
    assert seat_parts({0: 2, 1: 5}, 2, 0) == {0: 2}  # exactly enough is enough: the start's shard, not the fullest


@given(capacity=st.integers(1, 100_000), shards=st.integers(1, MAX_SEAT_SHARDS))
def test_the_capacity_splits_evenly_and_wholly(capacity, shards):
    capacities = shard_capacities(capacity, shards)
    assert sum(capacities) == capacity and len(capacities) == shards
    assert max(capacities) - min(capacities) <= 1


def test_an_event_gets_a_shard_per_thousand_seats_up_to_the_maximum():
    assert [seat_shards_for(c) for c in (1, 1000, 1001, 50_000, 100_000)] == [1, 1, 2, 50, MAX_SEAT_SHARDS]
