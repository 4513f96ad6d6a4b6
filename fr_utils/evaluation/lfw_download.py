"""Download LFW (Labeled Faces in the Wild) and check it: the photos and the View 2 protocol files.

    facenet-lfw-download DEST [--base-url URL] [--timeout SECONDS]   # the console script
    python -m fr_utils.evaluation.lfw_download DEST [--base-url URL]  # the same, by module
    download_lfw(DEST, base_url=...)                                  # in Python

fills ``DEST`` in the layout the project reads (``FACENET_SHARED/data/lfw``)::

    DEST/images/<Name>/<Name>_NNNN.jpg    13,233 deep-funneled photos of 5,749 people
    DEST/pairs.txt, DEST/people.txt       View 2: 10 identity-disjoint folds

from the official site (``DEFAULT_BASE_URL``: ``lfw-deepfunneled.tgz``, ``pairs.txt``,
``people.txt``; LFW is for research use, see its site). Then it checks what it got: each
file's sha256 where one is pinned, the number of photos, and that every photo ``pairs.txt``
and ``people.txt`` name is there. A folder that already passes the check is left alone, so
running it again costs nothing. Nothing is written into ``DEST`` until a download is complete
and checked (files are fetched into ``DEST/.download/`` and moved into place).

The command line is :mod:`fr_utils.cli.lfw_download`; run as a module, this file hands over
to it.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

DEFAULT_BASE_URL = "http://vis-www.cs.umass.edu/lfw/"
ARCHIVE = "lfw-deepfunneled.tgz"
PROTOCOL_FILES = ("pairs.txt", "people.txt")
EXPECTED_PHOTOS = 13_233
# sha256 of the protocol files as this project uses them (shared/data/lfw). The archive's hash
# is not pinned: the site publishes none, so it is checked by its contents instead.
SHA256 = {
    "pairs.txt": "ea42330c62c92989f9d7c03237ed5d591365e89b3e649747777b70e692dc1592",
    "people.txt": "bc8fa2b7f25c895cf7efb6de4f4fc27ca8b8d1cfa63350ad8b96eae2b198d365",
}
_CHUNK = 1 << 20


class LfwDownloadError(ValueError):
    """A download failed, or what was downloaded is not a complete LFW."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch(url: str, target: Path, timeout: float) -> None:
    """Stream ``url`` into ``target`` (written as ``target.part``, then renamed)."""
    part = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            shutil.copyfileobj(response, out, _CHUNK)
    except (urllib.error.URLError, OSError) as err:
        part.unlink(missing_ok=True)
        reason = getattr(err, "reason", None) or err
        raise LfwDownloadError(
            f"could not download {url}: {reason}. Check the network, or pass base_url= "
            "(--base-url) pointing at a mirror holding the same files."
        ) from None
    part.replace(target)


def _photo(name: str, number: str) -> str:
    return f"{name}/{name}_{int(number):04d}.jpg"


def _named_photos(pairs_txt: Path, people_txt: Path) -> set[str]:
    """Every photo the protocol files name, as ``<Name>/<Name>_NNNN.jpg``."""
    named = set()
    for line in pairs_txt.read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) == 3:
            named |= {_photo(fields[0], fields[1]), _photo(fields[0], fields[2])}
        elif len(fields) == 4:
            named |= {_photo(fields[0], fields[1]), _photo(fields[2], fields[3])}
        elif fields:
            raise LfwDownloadError(f"{pairs_txt}: cannot read the line {line!r}")
    for line in people_txt.read_text().splitlines():
        fields = line.split()
        if len(fields) == 2:
            named |= {_photo(fields[0], n) for n in range(1, int(fields[1]) + 1)}
    return named


def check_lfw(
    dest: str | Path,
    expected_photos: int | None = EXPECTED_PHOTOS,
    sha256: dict[str, str] | None = None,
) -> dict:
    """Check an LFW folder; return ``{"photos": n, "people": n, "named": n}``.

    Raises:
        LfwDownloadError: naming the first problem (a missing file, a wrong hash, a photo
            count other than ``expected_photos``, photos named by the protocol but absent).
    """
    dest = Path(dest)
    sha256 = SHA256 if sha256 is None else sha256
    images = dest / "images"
    for name in PROTOCOL_FILES:
        if not (dest / name).is_file():
            raise LfwDownloadError(f"{dest / name} is missing")
        if name in sha256 and _sha256(dest / name) != sha256[name]:
            raise LfwDownloadError(
                f"{dest / name}: sha256 differs from the pinned "
                f"{sha256[name]}; the file is not the expected one"
            )
    if not images.is_dir():
        raise LfwDownloadError(f"{images} is missing")
    photos = sorted(images.glob("*/*.jpg"))
    if expected_photos is not None and len(photos) != expected_photos:
        raise LfwDownloadError(
            f"{images}: {len(photos):,} photos, expected {expected_photos:,}; download again"
        )
    named = _named_photos(dest / "pairs.txt", dest / "people.txt")
    have = {f"{p.parent.name}/{p.name}" for p in photos}
    absent = sorted(named - have)
    if absent:
        raise LfwDownloadError(
            f"{images}: {len(absent)} photos named in pairs.txt/people.txt "
            f"are missing, e.g. {absent[0]}"
        )
    return {
        "photos": len(photos),
        "people": len({p.parent.name for p in photos}),
        "named": len(named),
    }


def _extract(archive: Path, into: Path) -> Path:
    """Unpack ``archive`` (safely: no paths outside ``into``); return its one top folder."""
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError) as err:
        raise LfwDownloadError(f"{archive.name}: not a readable tar.gz archive ({err})") from None
    tops = [p for p in into.iterdir() if p.is_dir()]
    if len(tops) != 1:
        raise LfwDownloadError(
            f"{archive.name}: expected one top folder of people's folders, "
            f"found {sorted(p.name for p in tops)}"
        )
    return tops[0]


def download_lfw(
    dest: str | Path,
    base_url: str = DEFAULT_BASE_URL,
    archive: str = ARCHIVE,
    expected_photos: int | None = EXPECTED_PHOTOS,
    sha256: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> dict:
    """Download LFW into ``dest`` (``images/``, ``pairs.txt``, ``people.txt``) and check it.

    Args:
        dest: the folder to fill, e.g. ``$FACENET_SHARED/data/lfw``; created if needed.
        base_url: where ``archive`` and the protocol files are, ending in ``/``.
        archive: the tar.gz of ``<top>/<Name>/<Name>_NNNN.jpg`` (deep-funneled by default).
        expected_photos: the number of photos to expect; ``None`` skips that check.
        sha256: ``{file name: hex digest}`` to check; default :data:`SHA256`.
        timeout: seconds to wait for each server response.

    Returns:
        :func:`check_lfw`'s summary. A ``dest`` that already passes the check is not touched.

    Raises:
        LfwDownloadError: a download failed, a hash differs, or the result is incomplete;
            ``dest`` keeps whatever complete LFW it had before.
    """
    dest = Path(dest)
    sha256 = SHA256 if sha256 is None else sha256
    try:
        return check_lfw(dest, expected_photos, sha256)
    except LfwDownloadError:
        pass  # not there yet (or broken): download
    base_url = base_url if base_url.endswith("/") else base_url + "/"
    work = dest / ".download"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        for name in (*PROTOCOL_FILES, archive):
            _fetch(base_url + name, work / name, timeout)
            if name in sha256 and _sha256(work / name) != sha256[name]:
                raise LfwDownloadError(
                    f"{base_url + name}: sha256 {_sha256(work / name)} "
                    f"differs from the pinned {sha256[name]}"
                )
        top = _extract(work / archive, work / "extracted")
        staged = work / "staged"
        staged.mkdir()
        top.rename(staged / "images")
        for name in PROTOCOL_FILES:
            (work / name).rename(staged / name)
        summary = check_lfw(staged, expected_photos, sha256)
        if (dest / "images").exists():
            shutil.rmtree(dest / "images")
        for name in ("images", *PROTOCOL_FILES):
            (staged / name).replace(dest / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summary


if __name__ == "__main__":  # python -m fr_utils.evaluation.lfw_download DEST
    from fr_utils.cli.lfw_download import main

    raise SystemExit(main(prog="python -m fr_utils.evaluation.lfw_download"))
