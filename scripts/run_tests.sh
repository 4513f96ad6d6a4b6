#!/usr/bin/env bash
# Run the whole test suite (sets everything up first): ruff's lint and format check, then
# pytest. Extra arguments go to pytest.
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
exec "$VENV/bin/python" -m pytest "$@"
