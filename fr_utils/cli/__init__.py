"""Console scripts: each parses its flags, makes one library call, and returns an exit code.

They share one error tail, :func:`run`: a user error (``ValueError``, which every
library error here subclasses, or ``OSError``) prints ``PROG: error: MESSAGE`` on
stderr and exits with :data:`USER_ERROR`, the code argparse uses for bad flags.
"""

import re
import sys
from collections.abc import Callable

USER_ERROR = 2
_MARKUP = re.compile(r"(?::\w+:)?`{1,2}~?([^`]+)`{1,2}")


def sources_text(*sources: str) -> str:
    """``A, else B, else C``: where a default comes from, the first that is set winning."""
    return ", else ".join(sources)


def default_help(*sources: str) -> str:
    """How every ``--help`` names a default: ``(default: A, else B, else C)``. Each tool passes
    the sources their owner module defines (e.g. :data:`fr_utils.weights.DEFAULT_SOURCES`), so
    the same default reads the same everywhere."""
    return f"(default: {sources_text(*sources)})"


def summary(doc: str) -> str:
    """A module docstring's first line as plain text for ``--help``: no reStructuredText
    markup, and a leading ``prog:`` dropped (argparse shows the program name already)."""
    line = _MARKUP.sub(r"\1", doc.strip().splitlines()[0])
    prog, sep, rest = line.partition(": ")
    if sep and " " not in prog:
        line = rest[:1].upper() + rest[1:]
    return line


def run(prog: str, call: Callable[[], object]) -> int:
    """Call ``call()``; return 0, or print the error as ``PROG: error: ...`` and return 2."""
    try:
        call()
    except (ValueError, OSError) as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return USER_ERROR
    return 0
