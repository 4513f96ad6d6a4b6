"""Decide when to greet: a face must match the same person for a few frames, and a
person greeted recently is not greeted again. Also the greeting's wording.

Pure logic with an injectable clock, so the rules are tested without a camera.
"""

import re
import time
import unicodedata

from greeter.config import DEFAULT_CONFIRM_FRAMES, DEFAULT_COOLDOWN

# Terminal escape sequences (CSI "ESC [ ... m", OSC "ESC ] ... BEL", and two-byte ESC X).
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?")
_JOINERS = {"\u200c", "\u200d"}  # zero-width (non-)joiner: part of how some scripts are written


def clean_name(name):
    """``"Lin-Manuel_Miranda"`` -> ``"Lin Manuel Miranda"``: what is spoken and logged.

    Terminal escape sequences and control or format characters (including bidi
    overrides) are removed, ``_`` and ``-`` become spaces, runs of white space one space.
    Letters of every script are kept. The result may be empty (``"__"``): callers refuse it.
    """
    text = unicodedata.normalize("NFC", _ESCAPES.sub("", str(name)))
    text = "".join(
        c
        for c in text
        if c in _JOINERS or not unicodedata.category(c).startswith("C") or c in "\t\n\r"
    )
    return re.sub(r"\s+", " ", re.sub(r"[_-]+", " ", text)).strip()


def greeting_text(names):
    """``Welcome Ana, have a nice day!``, ``Welcome Ana and Ben, ...``,
    ``Welcome Ana, Ben, and Chloe, ...``.

    Names are cleaned (:func:`clean_name`); empty ones are left out.
    """
    cleaned = [clean_name(n) for n in names]
    names = [n for n in cleaned if n]  # never "Welcome , ..."
    if not names:
        raise ValueError(f"greeting_text needs at least one non-empty name. Received: {cleaned}")
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
