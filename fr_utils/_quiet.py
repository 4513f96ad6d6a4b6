"""Silencing C/C++ libraries that write straight to the process's stderr (TensorFlow's import,
LiteRT's "Created TensorFlow Lite XNNPACK delegate" line): Python's logging cannot reach them.
``TF_CPP_MIN_LOG_LEVEL=0`` (or 1) keeps them, for debugging."""

import contextlib
import os
import sys

LEVEL_VAR = "TF_CPP_MIN_LOG_LEVEL"


def wanted() -> bool:
    """Whether native start-up chatter should be hidden (the default)."""
    return os.environ.get(LEVEL_VAR, "3") not in ("0", "1")


@contextlib.contextmanager
def native_stderr_silenced(enabled: bool = True):
    """Point file descriptor 2 at /dev/null for the block (C/C++ writes included).

    Process-wide: use it only around one-off start-up steps in the main thread, never on a
    path other threads may be writing errors from at the same time.
    """
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
