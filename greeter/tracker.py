"""Decide when to greet: a face must match the same person for a few frames, and a
person greeted recently is not greeted again. Also the greeting's wording.

Pure logic with an injectable clock, so the rules are tested without a camera.
"""

import re
import time

DEFAULT_CONFIRM_FRAMES = 3   # consecutive processed frames with the same match
DEFAULT_COOLDOWN = 300.0     # seconds before the same person is greeted again


def clean_name(name):
    """``"Lin-Manuel_Miranda"`` -> ``"Lin Manuel Miranda"``: what is spoken and logged."""
    return re.sub(r"\s+", " ", re.sub(r"[_-]+", " ", str(name))).strip()


def greeting_text(names):
    """``Welcome Ana, have a nice day!``, ``... Ana and Ben, ...``, ``... Ana, Ben, and Chloe, ...``."""
    names = [clean_name(n) for n in names]
    if not names:
        raise ValueError("greeting_text needs at least one name. Received: names=[]")
    if len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = ", ".join(names[:-1]) + f", and {names[-1]}"
    return f"Welcome {who}, have a nice day!"


class GreetingTracker:
    """Counts, per person, the consecutive processed frames they were matched in.

    Args:
        confirm_frames: frames in a row a person must be matched before a greeting
            (one stray match of a stranger is not enough; 1 greets at once).
        cooldown: seconds after a greeting during which that person is not greeted again.
        clock: a ``time.monotonic``-like function (injectable for tests).
    """

    def __init__(self, confirm_frames=DEFAULT_CONFIRM_FRAMES, cooldown=DEFAULT_COOLDOWN,
                 clock=time.monotonic):
        if int(confirm_frames) < 1:
            raise ValueError(f"confirm_frames must be >= 1. Received: confirm_frames={confirm_frames}")
        if not cooldown >= 0:
            raise ValueError(f"cooldown must be >= 0 seconds. Received: cooldown={cooldown}")
        self.confirm_frames, self.cooldown, self._clock = int(confirm_frames), float(cooldown), clock
        self._streak = {}        # name -> consecutive frames matched
        self._last_greeted = {}  # name -> clock time of the last greeting

    def update(self, names):
        """Feed the known names matched in one processed frame; return those to greet now,
        in the order given (a group arriving together is greeted together)."""
        present = list(dict.fromkeys(n for n in names if n is not None))
        self._streak = {n: self._streak.get(n, 0) + 1 for n in present}
        now = self._clock()
        due = [n for n in present if self._streak[n] >= self.confirm_frames
               and (n not in self._last_greeted or now - self._last_greeted[n] >= self.cooldown)]
        for n in due:
            self._last_greeted[n] = now
        return due
