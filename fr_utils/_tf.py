"""The one place the package imports TensorFlow and Keras, with their start-up noise silenced.

TensorFlow 2.19+ prints INFO/WARNING lines from its C++ core at import (oneDNN,
"Could not find cuda drivers", absl's "All log messages before
absl::InitializeLog()") even with ``TF_CPP_MIN_LOG_LEVEL=3``: they are written
before its log level is read (tensorflow/tensorflow#100442). So the import runs
with the process's stderr (file descriptor 2) pointed at /dev/null, and
``TF_CPP_MIN_LOG_LEVEL`` defaults to 3 for what TensorFlow logs later. Python
errors still raise. Set ``TF_CPP_MIN_LOG_LEVEL=0`` (or 1) to see everything.

Importing ``fr_utils`` itself imports none of this; ``fr_utils.model``,
``encoding``, ``loss`` and ``evaluation.training`` do, through this module.
"""

import contextlib
import logging
import os
import sys

_LEVEL_VAR = "TF_CPP_MIN_LOG_LEVEL"


@contextlib.contextmanager
def _stderr_to_devnull(enabled):
    """Point file descriptor 2 at /dev/null for the block (C/C++ writes included)."""
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


_quiet = os.environ.get(_LEVEL_VAR, "3") not in ("0", "1")
os.environ.setdefault(_LEVEL_VAR, "3")  # errors only, for what TensorFlow logs after import
with _stderr_to_devnull(_quiet and "tensorflow" not in sys.modules):
    import keras
    import tensorflow as tf
logging.getLogger("absl").setLevel(logging.ERROR)  # absl-py warnings TF and Keras emit later

__all__ = ["keras", "tf"]
