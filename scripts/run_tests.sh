#!/usr/bin/env bash
# Run the tests (sets everything up first): ruff's lint and format check, then pytest.
#
#   bash scripts/run_tests.sh          the whole suite: exactly what CI runs (.ci/run)
#   bash scripts/run_tests.sh --fast   the fast lane, before every change: lint, then only the
#                                      tests that need no model, no shared data, no database
#                                      server and no browser (under a minute; tests/conftest.py)
#
# Other arguments go to pytest (e.g. a test file, -k NAME, -m "not slow").
# Data and weights come from $FACENET_SHARED (default: ../shared beside the repo, if present).
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
if [ -z "${FACENET_SHARED:-}" ] && [ -d "$REPO/../shared" ]; then
    export FACENET_SHARED=$(cd "$REPO/../shared" && pwd)
fi
if [ -z "${FACENET_WEIGHTS:-}" ] && [ -n "${FACENET_SHARED:-}" ]; then
    export FACENET_WEIGHTS=$FACENET_SHARED/weights-aligned/nn4.small2.v1.h5
fi
cd "$REPO"
"$VENV/bin/ruff" check .            # lint and format check first (ruff, see pyproject.toml)
"$VENV/bin/ruff" format --check .
exec "$VENV/bin/python" -m pytest "$@"  # --fast is pytest's own option (tests/conftest.py)
