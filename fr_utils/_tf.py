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

import logging
import os
import sys

from fr_utils._quiet import LEVEL_VAR, native_stderr_silenced, wanted

_quiet = wanted()
os.environ.setdefault(LEVEL_VAR, "3")  # errors only, for what TensorFlow logs after import
with native_stderr_silenced(_quiet and "tensorflow" not in sys.modules):
    import keras
    import tensorflow as tf
logging.getLogger("absl").setLevel(logging.ERROR)  # absl-py warnings TF and Keras emit later

__all__ = ["keras", "tf"]
