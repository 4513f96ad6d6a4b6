"""Bounded waits: every wait in the tests ends, with the last value of what it waited for."""

import time


def wait_for(condition, timeout: float, every: float = 0.3, alive=None):
    """Poll ``condition()`` until it is truthy or ``timeout`` s pass (or ``alive()`` is false);
    returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value or (alive is not None and not alive()):
            return value
        time.sleep(every)
    return condition()
