"""greeter.tracker: confirmation over consecutive frames, cooldown (with an injected clock),
groups greeted together, bad settings refused."""

import pytest

from greeter.tracker import GreetingTracker
from tests.helpers.fakes import FakeClock


def test_confirm_frames_needs_consecutive_matches():
    tracker = GreetingTracker(confirm_frames=3, cooldown=60, clock=FakeClock())
    assert tracker.update(["ana"]) == []
    assert tracker.update(["ana"]) == []
    assert tracker.update([]) == []  # a frame without her resets the count
    assert tracker.update(["ana"]) == []
    assert tracker.update(["ana"]) == []
    assert tracker.update(["ana"]) == ["ana"]  # third in a row
    assert tracker.update(["ana"]) == []  # not again while she stays


def test_cooldown_with_injected_clock():
    clock = FakeClock()
    tracker = GreetingTracker(confirm_frames=1, cooldown=300, clock=clock)
    assert tracker.update(["ana"]) == ["ana"]
    clock.now = 299.0
    tracker.update([])
    assert tracker.update(["ana"]) == []
    clock.now = 300.0
    assert tracker.update(["ana"]) == ["ana"]


def test_group_arriving_together_is_greeted_in_one_greeting():
    tracker = GreetingTracker(confirm_frames=2, cooldown=60, clock=FakeClock())
    tracker.update(["ana", "ben", "chloe"])
    assert tracker.update(["ana", "ben", "chloe"]) == ["ana", "ben", "chloe"]


def test_tracker_rejects_bad_settings():
    with pytest.raises(ValueError, match="confirm_frames"):
        GreetingTracker(confirm_frames=0)
    with pytest.raises(ValueError, match="cooldown"):
        GreetingTracker(cooldown=-1)
