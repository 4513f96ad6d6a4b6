"""What a test needs from outside the repository (shared data, a database server, a browser):
without it the test is skipped, except under ``CI=true``, where it fails: CI must never pass by
skipping."""

import os
from pathlib import Path

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(message: str):
    """Skip the running test, or fail it under ``CI=true``; ``message`` says what is missing."""
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def need(path, what: str) -> Path:
    """``path`` when it exists, else :func:`unavailable` naming ``what`` and the setting."""
    if path is not None and Path(path).exists():
        return Path(path)
    unavailable(
        f"{what} not found ({path or 'setting unset'}); set FACENET_SHARED to the "
        "folder holding weights-aligned/ and data/ (CI uses ../shared)"
    )
