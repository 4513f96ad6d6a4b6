# Sourced by run_tests.sh and run_greeter.sh: makes a fresh Debian/Ubuntu machine ready.
# - system packages, via apt when root: libespeak-ng1 + alsa-utils (speech, played by aplay), libgl1 + libglib2.0-0 (opencv-python),
#   postgresql (the tests start a real server), chromium + chromium-driver (the admin page's browser test)
# - a virtualenv ($FACENET_VENV, default .venv) with this project and all its extras installed;
#   re-installs only when requirements.txt or pyproject.toml changed.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${FACENET_VENV:-$REPO/.venv}

missing=()
for pkg in libespeak-ng1 alsa-utils libgl1 libglib2.0-0 postgresql chromium chromium-driver; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    if [ "$(id -u)" = 0 ]; then
        echo "bootstrap: apt-get install ${missing[*]}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo apt-get update -qq
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "bootstrap: warning: missing system packages: ${missing[*]}" >&2
        echo "bootstrap: install them with: sudo apt-get install ${missing[*]}" >&2
    fi
fi

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x "$VENV/bin/python" ]; then
    echo "bootstrap: creating virtualenv $VENV" >&2
    "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.facenet-installed"
want=$(cat "$REPO/requirements.txt" "$REPO/pyproject.toml" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "bootstrap: installing Python packages into $VENV (first run takes a few minutes)" >&2
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e "$REPO[all]"
    echo "$want" > "$stamp"
fi
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
