"""Deadline: the time an invocation has left, and the safety margin nothing new may reach into."""

from __future__ import annotations

import pytest

from trailsift.deadline import Deadline


class TimeLeft:
    """A fake ``get_remaining_time_in_millis``; counts how often it is asked."""

    def __init__(self, ms: int) -> None:
        self.ms = ms
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.ms


def test_reached_once_the_time_left_is_inside_the_margin() -> None:
    time_left = TimeLeft(300_000)
    deadline = Deadline(time_left, 10_000)
    assert deadline.margin_ms == 10_000 and not deadline.reached()
    time_left.ms = 10_000
    assert not deadline.reached()  # exactly the margin left: may still start
    time_left.ms = 9_999
    assert deadline.reached() and deadline.left_ms() == 9_999


def test_the_time_left_is_read_at_every_check() -> None:
    time_left = TimeLeft(300_000)
    deadline = Deadline(time_left, 10_000)
    before = time_left.calls
    deadline.reached()
    deadline.left_ms()
    deadline.permits_sleep(1.0)
    assert time_left.calls == before + 3


def test_a_sleep_is_permitted_only_if_it_ends_before_the_margin_and_refusals_are_counted() -> None:
    deadline = Deadline(TimeLeft(12_000), 10_000)  # the margin is capped at 3 s here (a quarter of 12 s)
    assert deadline.margin_ms == 3_000
    assert deadline.permits_sleep(9.0) and deadline.permits_sleep(0.0)
    assert not deadline.permits_sleep(9.001)
    assert not deadline.permits_sleep(60.0)
    assert deadline.sleeps_refused == 2


@pytest.mark.parametrize(
    ("left", "margin", "expected"), [(300_000, 10_000, 10_000), (20_000, 10_000, 5_000), (8, 5, 2)]
)
def test_the_margin_is_at_most_a_quarter_of_the_time_left_at_the_start(left: int, margin: int, expected: int) -> None:
    # a short function timeout still leaves time to work instead of deferring every object
    assert Deadline(TimeLeft(left), margin).margin_ms == expected


@pytest.mark.parametrize("margin", [0, -1])
def test_the_margin_must_be_positive(margin: int) -> None:
    with pytest.raises(ValueError, match="margin_ms"):
        Deadline(TimeLeft(300_000), margin)
