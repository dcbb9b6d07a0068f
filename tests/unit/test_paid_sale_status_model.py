"""The paid on-sale model's queue status (benchmarks/paid_sale.py): when a waiting page hears a
change through the status CloudFront keeps a second, and the full-size check against issue 27's
goal ("sold out" within 5 s of the last seat), which must be able to print a miss."""

from __future__ import annotations

import random

import pytest

from benchmarks.paid_sale import PaidOutcome, _status_heard, report_polls


def test_a_change_is_heard_within_a_poll_and_a_copys_life_and_not_sooner_than_a_copy_allows():
    draw = random.Random(27)
    heard = [_status_heard(draw, 2.0, 1.0) for _ in range(20_000)]
    # A poll within 2 s of the step may meet a copy fetched before it (up to 1 s old): then the next.
    assert min(heard) >= 0 and max(heard) < 3.0
    # A quarter of first polls meet a stale copy (a poll drawn within 2 s, before a refresh within 1 s).
    assert 0.22 < sum(1 for value in heard if value >= 2.0) / len(heard) < 0.28
    # Slower pages hear later: a miss the model must be able to print.
    assert max(_status_heard(draw, 8.0, 1.0) for _ in range(2000)) > 5.0


def outcome() -> PaidOutcome:
    return PaidOutcome(stripe_rate=25, admit_rate=25, route=(25, 25), pace=False, seats=2000, buyers=8000)


@pytest.mark.parametrize(("poll_ms", "verdict"), [(None, "goal 5 s met"), (8000, "goal 5 s MISSED")])
def test_the_full_size_check_says_whether_the_goal_is_met(capsys, poll_ms, verdict):
    report_polls([outcome()], 200_000, 50_000, 90, poll_ms, 1.0)
    [status, own] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("At full size")]
    assert "153704 waiting when the last seat goes" in status and verdict in status
    assert "at most 600 at the origin" in status
    # Without the status, each polling their own place at its hint: the figure issue 27 set out to beat.
    assert "p99 50.7 s" in own and "goal 5 s MISSED" in own
