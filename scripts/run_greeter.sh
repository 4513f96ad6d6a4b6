#!/usr/bin/env bash
# Run the greeter (sets everything up first). Arguments go to `python -m greeter`, e.g. --headless.
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$REPO"
exec "$VENV/bin/python" -m greeter "$@"
