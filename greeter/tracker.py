"""Decide when to greet: a face must match the same person for a few frames, and a
person greeted recently is not greeted again.

Pure logic with an injectable clock, so the rules are tested without a camera.
"""

import time

from greeter.config import DEFAULT_CONFIRM_FRAMES, DEFAULT_COOLDOWN


class GreetingTracker:
    """Counts, per person, the consecutive processed frames they were matched in.

    Args:
        confirm_frames: frames in a row a person must be matched before a greeting
            (one stray match of a stranger is not enough; 1 greets at once).
        cooldown: seconds after a greeting during which that person is not greeted again.
        clock: a ``time.monotonic``-like function (injectable for tests).
    """

    def __init__(
        self, confirm_frames=DEFAULT_CONFIRM_FRAMES, cooldown=DEFAULT_COOLDOWN, clock=time.monotonic
    ):
        if int(confirm_frames) < 1:
            raise ValueError(
                f"confirm_frames must be >= 1. Received: confirm_frames={confirm_frames}"
            )
        if not cooldown >= 0:
            raise ValueError(f"cooldown must be >= 0 seconds. Received: cooldown={cooldown}")
        self.confirm_frames, self.cooldown, self._clock = (
            int(confirm_frames),
            float(cooldown),
            clock,
        )
        self._streak = {}  # name -> consecutive frames matched
        self._last_greeted = {}  # name -> clock time of the last greeting

    def update(self, names):
        """Feed the known names matched in one processed frame; return those to greet now,
        in the order given (a group arriving together is greeted together)."""
        present = list(dict.fromkeys(n for n in names if n is not None))
        self._streak = {n: self._streak.get(n, 0) + 1 for n in present}
        now = self._clock()
        due = [
            n
            for n in present
            if self._streak[n] >= self.confirm_frames
            and (n not in self._last_greeted or now - self._last_greeted[n] >= self.cooldown)
        ]
        for n in due:
            self._last_greeted[n] = now
        return due
