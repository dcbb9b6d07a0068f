"""The on-sale queue's rules without AWS (payments.domain.admission): how far the admitter moves the
watermark, what a buyer's place says, and the queue pass."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.domain.admission import (
    EPOCH_MS,
    AdmissionPolicy,
    PassRefused,
    PlaceStatus,
    QueueEntry,
    QueuePass,
    QueueState,
    advance,
    counter_floors,
    counter_of,
    expected_reservations,
    lowest_next,
    moved,
    outstanding,
    place_status,
    poll_after_ms,
    read_pass,
    sign_pass,
    window_end_ms,
)
from payments.settings import Settings

KEY = b"queue-pass-key-for-tests"
START = 1_800_000_000_000  # ms
POLICY = AdmissionPolicy(rate_per_second=25, window_ms=600_000)


def fresh(at: int = START) -> QueueState:
    return QueueState(credited_ms=at, updated_ms=at)


def handed(places: int) -> dict[int, int]:
    """The counters after ``places`` joins that kept them level (places 1 .. ``places`` handed out)."""
    return {counter: value for counter, value in counter_floors(places).items()}


def step(state: QueueState, now: int, *, seats: int = 10_000, issued: int = 100_000, used: dict[int, int] | None = None) -> QueueState:
    return advance(state, now_ms=now, seats_left=seats, handed=handed(issued), used_by_epoch=used or {}, policy=POLICY)


# the watermark -------------------------------------------------------------------------------------
def test_a_second_admits_the_rate_and_no_more():
    state = step(fresh(), START + 1000)
    assert state.admitted_to == 25
    # Asked again at once, nothing more: the credit is spent.
    assert step(state, START + 1000).admitted_to == 25
    # Half a second later, half the rate.
    assert step(state, START + 1500).admitted_to == 37


def test_idle_credit_is_capped_at_the_burst():
    # Nobody waited for a minute: the first second after it admits one second's worth, not sixty.
    state = step(fresh(), START + 60_000, issued=0)
    assert state.admitted_to == 0
    assert step(state, START + 60_000, issued=1000).admitted_to == 25


def test_never_beyond_the_places_handed_out():
    assert step(fresh(), START + 10_000, issued=7).admitted_to == 7


def test_never_beyond_the_seats_left_less_the_admissions_outstanding():
    state = step(fresh(), START + 1000, seats=10)
    assert state.admitted_to == 10
    # Ten admitted, none used yet: no room for more while they may still reserve.
    later = step(state, START + 5000, seats=10)
    assert later.admitted_to == 10
    # Four of them reserved (their seats are gone, their admissions no longer outstanding): still no room ...
    assert step(state, START + 5000, seats=6, used={START // EPOCH_MS: 4}).admitted_to == 10
    # ... and a cancelled reservation's seats come back: room for one more.
    assert step(state, START + 5000, seats=7, used={START // EPOCH_MS: 4}).admitted_to == 11


def test_an_open_admission_counts_as_the_share_of_admitted_buyers_who_complete():
    """At 90%, an epoch's admissions are expected to reserve 90 in 100: its open admissions count
    for what is left of that (never below none), so those who leave give their room back as soon as
    the others have reserved, not when the window ends."""
    policy = AdmissionPolicy(rate_per_second=1000, window_ms=180_000, completion_percent=90)
    epoch = START // EPOCH_MS

    def admit(state: QueueState, seats: int, used: int, at: int = START + 2000, rule: AdmissionPolicy = policy) -> QueueState:
        return advance(state, now_ms=at, seats_left=seats, handed=handed(1000), used_by_epoch={epoch: used}, policy=rule)

    first = admit(fresh(), 100, 0, START + 1000)
    assert first.admitted_to == 100  # the new admissions count whole
    # None used yet: 90 of the 100 are expected to reserve, 10 seats are room.
    assert expected_reservations(first, {}, 90) == 90
    second = admit(first, 100, 0)
    assert second.admitted_to == 110 and expected_reservations(second, {}, 90) == 99
    # 95 of 100 asked for 95 seats: 5 seats left, the epoch expects 90 - 95 more: none; 5 admitted.
    assert admit(first, 5, 95).admitted_to == 105
    # 80 reserved: 10 more expected, on 20 seats left: 10 more admitted.
    assert admit(first, 20, 80).admitted_to == 110
    # At 100% an open admission counts whole until its window ends (the rule before the share).
    exact = replace(policy, completion_percent=100)
    assert expected_reservations(first, {epoch: 95}, 100) == outstanding(first, {epoch: 95}) == 5
    assert admit(first, 5, 95, rule=exact).admitted_to == 100
    assert admit(first, 20, 80, rule=exact).admitted_to == 100
    # 100 - 90 in every hundred expected to leave, rounded down: 85% of 10 leaves one, not two.
    assert expected_reservations(first, {}, 85) == 85
    assert expected_reservations(admit(fresh(), 10, 0, START + 1000), {}, 85) == 9
    # A count of uses below none (a give-back racing its use) counts as none.
    assert expected_reservations(first, {epoch: -3}, 100) == 100


def test_lapsed_admissions_give_their_room_back():
    state = step(fresh(), START + 1000, seats=10)
    epoch = START // EPOCH_MS
    assert dict(state.epochs) == {epoch: 10}
    # Until the window ends, none of the ten unused admissions lapses ...
    end = window_end_ms(epoch, POLICY)
    assert step(state, end - 1, seats=10).admitted_to == 10
    # ... then all of them: ten more are admitted, the first ten's place is lapsed.
    after = step(state, end, seats=10)
    assert (after.lapsed_to, after.admitted_to) == (10, 20)
    # Two open epochs, each counted from the one before: 10 lapsed, 10 and then 5 more open.
    two = step(after, end + EPOCH_MS, seats=15)
    assert len(two.epochs) == 2 and expected_reservations(two, {}, 100) == outstanding(two, {}) == 15
    assert after.epoch_of(5) is None and after.epoch_of(15) == end // EPOCH_MS


def test_an_epoch_lapsing_beside_an_open_one_counts_only_the_open_ones_buyers():
    first = step(fresh(), START + 1000, seats=10)  # places 1-10, in the first epoch
    second = step(first, START + EPOCH_MS + 1000, seats=15)  # 5 more seats: places 11-15, in the next
    assert second.admitted_to == 15 and len(second.epochs) == 2
    # The first epoch's window ends while the second's is open: its 10 unused admissions lapse, and
    # the room is the 15 seats less the second epoch's 5 buyers (counted from where the first ended).
    after = step(second, window_end_ms(START // EPOCH_MS, POLICY), seats=15)
    assert (after.lapsed_to, after.admitted_to) == (10, 25)


def test_sold_out_when_no_seat_is_left_and_moving_again_when_seats_come_back():
    state = step(fresh(), START + 1000, seats=0)
    assert state.sold_out and state.admitted_to == 0
    back = step(state, START + 2000, seats=3)
    assert not back.sold_out and back.admitted_to == 3


def test_a_step_stopped_by_the_seats_says_so_and_one_stopped_by_the_rate_does_not():
    # Three seats, a hundred thousand waiting: the seats stop the step, not the rate.
    bound = step(fresh(), START + 1000, seats=3)
    assert bound.admitted_to == 3 and bound.seat_bound
    # The next second the rate would admit more, the open admissions still cover the seats.
    assert step(bound, START + 2000, seats=3).seat_bound
    # Plenty of seats: the rate stops it.
    assert not step(fresh(), START + 1000).seat_bound
    # Nobody left waiting: not bound by anything.
    assert not step(fresh(), START + 1000, seats=3, issued=3).seat_bound


def test_places_nobody_holds_are_passed_over_at_no_cost_and_closed():
    # Three buyers drew counters 7, 4 and 1 (places 8, 5 and 2); the others handed out nothing yet.
    counters = {7: 1, 4: 1, 1: 1}
    state = advance(fresh(), now_ms=START + 1000, seats_left=2, handed=counters, used_by_epoch={}, policy=POLICY)
    # Two seats: the buyers at 2 and 5 are admitted, and the holes up to the third buyer with them.
    assert state.admitted_to == 7 and dict(state.holes) == {START // EPOCH_MS: 5}
    assert outstanding(state, {}) == 2 and expected_reservations(state, {}, 100) == 2
    # The counters behind are raised so that nobody joining later gets an admitted place.
    assert counter_floors(7) == {0: 1, 1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 0}
    # With seats for everyone, the watermark stops at the last place handed out.
    assert advance(fresh(), now_ms=START + 1000, seats_left=9, handed=counters, used_by_epoch={}, policy=POLICY).admitted_to == 8


def test_a_place_names_its_counter():
    assert [counter_of(place) for place in (1, 8, 9, 17)] == [(0, 1), (7, 1), (0, 2), (0, 3)]


def test_the_window_ends_a_window_after_the_epoch():
    assert window_end_ms(5, POLICY) == 6 * EPOCH_MS + 600_000


ticks = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=5_000),  # ms since the previous step
        st.integers(min_value=-5, max_value=200),  # seats left
        st.lists(st.integers(min_value=0, max_value=7), max_size=60),  # the counters new buyers drew
        st.integers(min_value=0, max_value=40),  # admissions used since
    ),
    min_size=1,
    max_size=60,
)


@given(ticks, st.integers(min_value=1, max_value=200), st.integers(min_value=1, max_value=100))
def test_properties_of_any_run(run, rate, completion):
    """Over any run of steps, with buyers drawing counters at random: never beyond the seats (the
    open admissions counted at the completion share), never faster than the rate, the watermark and the lapses only move on, the
    admitted are always the first places (arrival order), a place handed out is never passed over
    as a hole, and never a place beyond the last one handed out."""
    policy = AdmissionPolicy(rate_per_second=rate, window_ms=30_000, completion_percent=completion)
    state, now = fresh(), START
    counters = dict.fromkeys(range(8), 0)
    buyers: set[int] = set()  # the places real buyers hold
    used: dict[int, int] = {}
    admitted_at: dict[int, int] = {}  # place -> the step's time it was admitted
    for elapsed, seats, draws, uses_drawn in run:
        uses = uses_drawn
        now += elapsed
        for counter in draws:
            counters[counter] += 1
            buyers.add((counters[counter] - 1) * 8 + counter + 1)
        # Uses happen among the open admissions of buyers not used yet.
        for epoch in sorted(state.epochs):
            room = outstanding(
                replace(
                    state,
                    epochs={epoch: state.epochs[epoch]},
                    lapsed_to=max([state.lapsed_to, *[last for e, last in state.epochs.items() if e < epoch]]),
                    holes={epoch: state.holes.get(epoch, 0)},
                ),
                {epoch: used.get(epoch, 0)},
            )
            taken = min(uses, room)
            used[epoch] = used.get(epoch, 0) + taken
            uses -= taken
        before = state
        state = advance(state, now_ms=now, seats_left=seats, handed=counters, used_by_epoch=used, policy=policy)
        # The caller closes the places passed over.
        for counter, floor in counter_floors(state.admitted_to).items():
            counters[counter] = max(counters[counter], floor)
        new_places = range(before.admitted_to + 1, state.admitted_to + 1)
        new_buyers = [place for place in new_places if place in buyers]
        # monotonic
        assert state.admitted_to >= before.admitted_to and state.lapsed_to >= before.lapsed_to
        assert state.credited_ms >= before.credited_ms and state.credited_ms <= now
        # never beyond the seats: what is expected still to reserve fits the seats left; at 100%,
        # every open admission does
        if new_buyers:
            assert expected_reservations(state, used, completion) <= max(seats, 0)
            assert completion < 100 or outstanding(state, used) <= max(seats, 0)
        assert (state.seats_left, state.handed_to) == (max(seats, 0), max([before.handed_to, *buyers]))
        # holes are exactly the places passed over that nobody held
        epoch = now // EPOCH_MS
        if new_places:
            assert state.holes.get(epoch, 0) - before.holes.get(epoch, 0) == len(new_places) - len(new_buyers)
        # never beyond the last place handed out
        assert state.admitted_to <= max([before.admitted_to, *buyers])
        # never faster than the rate, from the start of the run
        assert len([place for place in admitted_at if place in buyers] + new_buyers) * 1000 <= rate * (now - START)
        # arrival order: the admitted are exactly places 1 .. N, each admitted once, in order
        for place in new_places:
            admitted_at[place] = now
        assert sorted(admitted_at) == list(range(1, state.admitted_to + 1))
        assert all(admitted_at[place] <= admitted_at[place + 1] for place in range(1, state.admitted_to))
        assert state.sold_out == (seats <= 0)


# a buyer's place -----------------------------------------------------------------------------------
def entry(place: int, used: bool = False) -> QueueEntry:
    return QueueEntry(15, "user-alice", place, START, used_ms=START if used else None, ticket_id=31 if used else None)


def test_a_place_is_waiting_admitted_expired_used_or_sold_out():
    state = step(fresh(), START + 1000)  # places 1..25 admitted
    epoch = START // EPOCH_MS
    assert place_status(state, entry(26), START + 1000, POLICY) == PlaceStatus.WAITING
    assert place_status(state, entry(25), START + 1000, POLICY) == PlaceStatus.ADMITTED
    assert place_status(state, entry(25, used=True), START + 1000, POLICY) == PlaceStatus.USED
    assert place_status(state, entry(25), window_end_ms(epoch, POLICY), POLICY) == PlaceStatus.EXPIRED
    gone = step(state, START + 2000, seats=0)
    assert place_status(gone, entry(26), START + 2000, POLICY) == PlaceStatus.SOLD_OUT
    assert place_status(gone, entry(3), START + 2000, POLICY) == PlaceStatus.SOLD_OUT


# the queue pass --------------------------------------------------------------------------------------
def signed(**changes: object) -> str:
    fields = {"event_id": 15, "owner": "user-alice", "place": 42, "expires_ms": START + 60_000} | changes
    return sign_pass(KEY, QueuePass(**fields))  # type: ignore[arg-type]


def test_a_pass_reads_back_as_signed():
    assert read_pass(KEY, signed(), event_id=15, owner="user-alice", now_ms=START) == QueuePass(15, "user-alice", 42, START + 60_000)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        pytest.param(lambda: signed()[:-2] + ("AA" if not signed().endswith("AA") else "BB"), "not a queue pass of ours", id="signature"),
        pytest.param(
            lambda: sign_pass(b"another key", QueuePass(15, "user-alice", 1, START + 60_000)), "not a queue pass of ours", id="key"
        ),
        pytest.param(lambda: signed(place=1).split(".")[0] + "." + signed().split(".")[1], "not a queue pass of ours", id="place"),
        pytest.param(lambda: "not-a-pass", "not a queue pass of ours", id="shape"),
        pytest.param(lambda: "e30.!!", "not a queue pass of ours", id="base64"),
        pytest.param(lambda: signed(event_id=16), "a queue pass of another event or account", id="event"),
        pytest.param(lambda: signed(owner="user-bob"), "a queue pass of another event or account", id="owner"),
        pytest.param(lambda: signed(expires_ms=START), "expired; ask for your place again for a new one", id="expired"),
    ],
)
def test_a_forged_altered_foreign_or_expired_pass_is_refused(token, reason):
    with pytest.raises(PassRefused) as refused:
        read_pass(KEY, token(), event_id=15, owner="user-alice", now_ms=START)
    assert refused.value.reason == reason


@pytest.mark.parametrize("fields", [{"rate_per_second": 0}, {"window_ms": 0}, {"burst_ms": -1}, {"poll_budget_per_second": 0}])
def test_a_policy_needs_a_rate_and_a_window(fields):
    # Said once, at the container's start, to whoever set the template's parameters: the text is what they read.
    says = "^an admission policy needs a positive rate, window and poll budget, and no negative burst$"
    with pytest.raises(ValueError, match=says):
        AdmissionPolicy(**{"rate_per_second": 1, "window_ms": 1, **fields})


@pytest.mark.parametrize(("completion", "budget"), [(0, 1), (101, 1), (90, 0)])
def test_a_policy_needs_a_completion_share_of_1_to_100_and_a_poll_budget(completion, budget):
    with pytest.raises(ValueError):
        AdmissionPolicy(rate_per_second=1, window_ms=1, completion_percent=completion, poll_budget_per_second=budget)
    assert AdmissionPolicy(rate_per_second=1, window_ms=1, completion_percent=1, poll_budget_per_second=1).completion_percent == 1
    assert AdmissionPolicy(rate_per_second=1, window_ms=1, completion_percent=100).completion_percent == 100
    # The pure rule's default admits on no guess; its poll budget is the deployed default.
    default = AdmissionPolicy(rate_per_second=1, window_ms=1)
    deployed = Settings.model_fields["queue_poll_budget_per_second"].default
    assert (default.completion_percent, default.poll_budget_per_second) == (100, deployed) == (100, 3000)


def test_a_step_that_changes_only_the_seats_left_or_the_places_handed_out_is_written():
    """The poll hint reads both from the state's copies; a new queue knows neither yet."""
    assert (QueueState().seats_left, QueueState().handed_to) == (0, 0)
    state = step(fresh(), START + 1000, seats=10_000, issued=25)
    assert (state.seats_left, state.handed_to) == (10_000, 25)
    assert not moved(state, replace(state, credited_ms=state.credited_ms + 5, updated_ms=state.updated_ms + 5))
    assert moved(state, replace(state, seats_left=9_999))
    assert moved(state, replace(state, handed_to=26))
    # A step that read no counter (a throttled read: nothing handed) keeps the last count it knew.
    again = advance(state, now_ms=START + 2000, seats_left=10_000, handed={}, used_by_epoch={}, policy=POLICY)
    assert again.handed_to == 25


# the poll hint -------------------------------------------------------------------------------------
HINTS = AdmissionPolicy(rate_per_second=25, window_ms=180_000, poll_budget_per_second=3000)


def hinted(place: int, *, admitted: int = 100, handed_to: int = 1100, seats: int = 10_000, status: str = PlaceStatus.WAITING) -> int:
    state = QueueState(admitted_to=admitted, handed_to=handed_to, seats_left=seats, sold_out=status == PlaceStatus.SOLD_OUT)
    return poll_after_ms(state, place, PlaceStatus(status), HINTS)


@pytest.mark.parametrize(
    ("case", "kwargs", "expected"),
    [
        # next in line: the queue moves once a second, sooner brings no news
        ("front", {"place": 101}, 1000),
        # 500 ahead: their turn at the earliest in 20 s at 25 a second: half of that
        ("middle", {"place": 600}, 10_000),
        # the same buyer when only 100 seats are left: sold out may come in 4 s: half of that
        ("seats almost gone", {"place": 600, "seats": 100}, 2000),
        # 5,000 ahead, plenty of seats: a minute at most ...
        ("far back", {"place": 5100, "handed_to": 100_100}, 60_000),
        # ... but never more often than the budget allows: 200,000 waiting at 3,000 polls a second
        ("far back in a long queue", {"place": 5100, "handed_to": 200_100}, 66_667),
        ("far back, seats almost gone", {"place": 5100, "handed_to": 200_100, "seats": 50}, 66_667),
        # within the budget's spread of their turn: the turn decides (4 s away, 12,000 waiting: spread 4 s)
        ("turn at the spread", {"place": 200, "handed_to": 12_100}, 2000),
        ("turn past the spread", {"place": 201, "handed_to": 12_100}, 4000),
        # the front of a very long queue (a spread of 134 s): a minute at most all the same
        ("front of a very long queue", {"place": 3350, "handed_to": 400_100}, 60_000),
        # a short queue's last seats: a second at the least
        ("last seats, short queue", {"place": 200, "handed_to": 200, "seats": 10}, 1000),
        # near the front the turn decides, the last seats do not call them all at once
        ("turn at the spread, seats almost gone", {"place": 200, "handed_to": 12_100, "seats": 10}, 2000),
        # a copy older than the buyer's place (the counters moved since): the buyer's own place counts
        ("place beyond the copy", {"place": 30_000, "admitted": 0, "handed_to": 0, "seats": 0}, 10_000),
        ("sold out", {"place": 600, "status": PlaceStatus.SOLD_OUT}, 60_000),
        ("sold out, long queue", {"place": 600, "handed_to": 300_100, "status": PlaceStatus.SOLD_OUT}, 100_000),
        ("admitted", {"place": 50, "status": PlaceStatus.ADMITTED}, 60_000),
        ("used", {"place": 50, "status": PlaceStatus.USED}, 60_000),
        ("expired", {"place": 50, "status": PlaceStatus.EXPIRED}, 60_000),
    ],
)
def test_the_poll_hint_is_sooner_near_the_front_or_the_last_seats_and_later_far_back(case, kwargs, expected):
    assert hinted(**kwargs) == expected, case


def test_a_poll_hint_is_whole_milliseconds_at_any_rate():
    """The hint is an integer in the answer (``poll_after_ms``): at 3 admissions a second, 10 places
    ahead is a turn in 3,333 ms, and half of it is 1,666, not 1,666.5."""
    slow = AdmissionPolicy(rate_per_second=3, window_ms=180_000, poll_budget_per_second=3000)
    hint = poll_after_ms(QueueState(admitted_to=0, handed_to=10, seats_left=10_000), 10, PlaceStatus.WAITING, slow)
    assert hint == 1666 and isinstance(hint, int)


def test_the_counter_with_the_lowest_next_place_counts_a_counter_never_drawn_as_zero():
    # Counter c's next place is c + 1 + 8 x (its value): a counter with no item yet (not in the read) is at 0.
    assert lowest_next({}) == 0
    assert lowest_next({0: 1}) == 1  # counter 0's next is place 9; counter 1's, never drawn, place 2
    assert lowest_next(dict.fromkeys(range(8), 2) | {5: 1}) == 5


def test_the_poll_hints_of_a_whole_queue_keep_within_the_budget():
    """200,000 waiting at 25 admissions a second, 10,000 seats left: the polls a second their hints
    ask for, all together, stay near the budget (the front's few fast polls on top of it)."""
    state = QueueState(admitted_to=0, handed_to=200_000, seats_left=10_000)
    load = sum(1000 / poll_after_ms(state, place, PlaceStatus.WAITING, HINTS) for place in range(1, 200_001))
    assert 3000 <= load <= 3000 * 1.1, load
