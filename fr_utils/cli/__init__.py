"""Console scripts: each parses its flags, makes one library call, and returns an exit code.

They share one error tail, :func:`run`: a user error (``ValueError``, which every
library error here subclasses, or ``OSError``) prints ``PROG: error: MESSAGE`` on
stderr and exits with :data:`USER_ERROR`, the code argparse uses for bad flags.
"""

import sys
from collections.abc import Callable

USER_ERROR = 2


def run(prog: str, call: Callable[[], object]) -> int:
    """Call ``call()``; return 0, or print the error as ``PROG: error: ...`` and return 2."""
    try:
        call()
    except (ValueError, OSError) as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return USER_ERROR
    return 0
