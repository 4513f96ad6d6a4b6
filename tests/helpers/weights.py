"""Weight folders for the tests: links to the shared CSV files, some of them left out."""

from pathlib import Path


def link_csv_folder(src: Path, dst: Path, leave_out=()) -> Path:
    """``dst`` (made) with a link to each of ``src``'s CSV files but those whose stem is in
    ``leave_out``; e.g. ``root/weights`` is the layout of the public repository."""
    dst.mkdir(parents=True)
    for f in src.glob("*.csv"):
        if f.stem not in leave_out:
            (dst / f.name).symlink_to(f)
    return dst
