"""``facenet-lfw-download``: download LFW and its View 2 protocol files, and check them.

    facenet-lfw-download DEST [--base-url URL] [--timeout SECONDS]
    python -m fr_utils.evaluation.lfw_download DEST      # the same command, by module

See :func:`fr_utils.evaluation.lfw_download.download_lfw`. Exit status 1 when the download
or its check fails (the message says what is missing or wrong), 2 for bad flags.
"""

import argparse
import sys

from fr_utils.cli import default_help
from fr_utils.evaluation.lfw_download import (
    ARCHIVE,
    DEFAULT_BASE_URL,
    LfwDownloadError,
    download_lfw,
)


def main(argv: list[str] | None = None, prog: str = "facenet-lfw-download") -> int:
    """Parse ``argv``, download and check; return the exit code."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Download LFW (Labeled Faces in the Wild) and check it: the photos and "
        "the View 2 protocol files.",
    )
    parser.add_argument("dest", help="folder to fill, e.g. $FACENET_SHARED/data/lfw")
    parser.add_argument(
        "--base-url",
        default=DEFAULT_BASE_URL,
        help=f"where {ARCHIVE} and pairs.txt/people.txt are {default_help(DEFAULT_BASE_URL)}",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds per response (default: 60)"
    )
    args = parser.parse_args(argv)
    try:
        summary = download_lfw(args.dest, args.base_url, timeout=args.timeout)
    except LfwDownloadError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(
        f"{args.dest}: {summary['photos']:,} photos of {summary['people']:,} people; "
        f"pairs.txt and people.txt checked"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
