#!/usr/bin/env bash
# Install this machine as a door kiosk (run as root, from a checkout of the repository):
#
#   sudo bash scripts/install_kiosk.sh --weights /path/to/nn4.small2.v1.h5
#
# Only what a door needs, nothing of the developer's set-up (scripts/bootstrap.sh):
#   1. Debian packages: libespeak-ng1 (speech), alsa-utils (aplay plays it), libgl1 and
#      libglib2.0-0 (OpenCV), python3-venv; nothing else (no PostgreSQL server, no Chromium);
#   2. the system user `kiosk` (groups video and audio; no login shell);
#   3. /opt/greeter/venv with `.[kiosk,admin]` only (dlib, LiteRT and the admin page: no
#      TensorFlow, Jupyter, pytest or Selenium), the weights in /opt/greeter/weights,
#      greeter/greeter-library/greeter-admin in /usr/local/bin;
#   4. ONE config file every tool reads by default, /etc/greeter/greeter.json (root:kiosk,
#      0640: it may hold a database password and the admin password hash): the library
#      (sqlite:////var/lib/greeter/library.db unless --db), the LiteRT model folder
#      (/var/cache/greeter/litert), the weights;
#   5. the systemd unit deploy/greeter.service as /etc/systemd/system/greeter.service,
#      enabled (and started when systemd runs).
# Running it again updates the install and keeps the config file's other settings.
# Details: docs/kiosk.md.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: sudo bash scripts/install_kiosk.sh [options]

  --weights PATH   weights (HDF5 file or CSV folder) to copy to /opt/greeter/weights, with the
                   THRESHOLDS.json beside them; needed once (later runs keep the config's)
  --litert-from DIR
                   copy a LiteRT model exported elsewhere (`facenet-weights export-litert
                   --out DIR` on a machine with TensorFlow) to /var/cache/greeter/litert
  --db URL         the face library (default: sqlite:////var/lib/greeter/library.db);
                   e.g. postgresql://greeter:PASSWORD@db.lan/greeter for a fleet
  --kiosk NAME     this kiosk's name in the library (default: the host name)
  --user NAME      the service's user (default: kiosk)
  --root DIR       install under DIR instead of / (for tests): files, the venv and the config
                   go under DIR (the venv runs from there: its scripts name DIR); the user is
                   still created on this system, and the unit is enabled offline
  --no-apt         do not install Debian packages (only say which are missing)
  --no-user        do not create the user (it must exist)
  --no-systemd     do not enable or start the unit (it is still written)
  --no-admin       install .[kiosk] only, without the admin page (greeter-admin)
  -h, --help       this text

Environment: PYTHON (default /usr/bin/python3: the kiosk user must be able to run it).
EOF
}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=/ WEIGHTS="" LITERT_FROM="" DB="" KIOSK="" USER_NAME=kiosk
APT=1 CREATE_USER=1 SYSTEMD=1 EXTRAS=kiosk,admin TOOLS="greeter greeter-library greeter-admin"
while (($#)); do
    case "$1" in
        --weights) WEIGHTS=$(realpath "$2"); shift ;;
        --litert-from) LITERT_FROM=$(realpath "$2"); shift ;;
        --db) DB=$2; shift ;;
        --kiosk) KIOSK=$2; shift ;;
        --user) USER_NAME=$2; shift ;;
        --root) ROOT=$(realpath "$2"); shift ;;
        --no-apt) APT=0 ;;
        --no-user) CREATE_USER=0 ;;
        --no-systemd) SYSTEMD=0 ;;
        --no-admin) EXTRAS=kiosk TOOLS="greeter greeter-library" ;;
        -h | --help) usage; exit 0 ;;
        *) echo "install_kiosk: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
say() { echo "install_kiosk: $*" >&2; }
die() { say "error: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (sudo bash scripts/install_kiosk.sh ...)"
[ -z "$WEIGHTS" ] || [ -e "$WEIGHTS" ] || die "--weights $WEIGHTS: no such file or folder"
[ -z "$LITERT_FROM" ] || [ -f "$LITERT_FROM/litert_manifest.json" ] ||
    die "--litert-from $LITERT_FROM: no litert_manifest.json there (facenet-weights export-litert --out)"
PYTHON=${PYTHON:-/usr/bin/python3}
R=${ROOT%/}  # prefix for every path below ("" for the real system)

OPT=/opt/greeter VENV=/opt/greeter/venv CONF_DIR=/etc/greeter CONF=/etc/greeter/greeter.json
STATE=/var/lib/greeter CACHE=/var/cache/greeter LITERT=/var/cache/greeter/litert
LOGS=/var/log/greeter UNIT=/etc/systemd/system/greeter.service
DEFAULT_DB=sqlite:///$STATE/library.db

# 1. Debian packages: only those a door needs.
PACKAGES=(libespeak-ng1 alsa-utils libgl1 libglib2.0-0 python3-venv)
missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    if ((APT)); then
        say "apt-get install ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    else
        say "warning: missing Debian packages: ${missing[*]} (sudo apt-get install ${missing[*]})"
    fi
fi
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null ||
    die "$PYTHON is not Python 3.11 or newer; set PYTHON to one the kiosk user can run"

# 2. The service's user: a system account in groups video (camera) and audio (speaker).
if ((CREATE_USER)) && ! getent passwd "$USER_NAME" >/dev/null; then
    say "creating system user $USER_NAME"
    useradd --system --user-group --home-dir "$STATE" --no-create-home \
        --shell /usr/sbin/nologin --comment "Office-door greeter" "$USER_NAME"
fi
getent passwd "$USER_NAME" >/dev/null || die "no user $USER_NAME (drop --no-user)"
if ((CREATE_USER)); then
    usermod -a -G video,audio "$USER_NAME"
fi

# 3. Folders: code and weights read-only for the kiosk, state and logs private to it.
install -d -m 0755 "$R$OPT" "$R$OPT/weights" "$R$OPT/doc" "$R$CONF_DIR" "$R/usr/local/bin" \
    "$R$(dirname "$UNIT")"
install -d -m 0750 -o "$USER_NAME" -g "$USER_NAME" "$R$STATE" "$R$LOGS"
install -d -m 0755 -o "$USER_NAME" -g "$USER_NAME" "$R$CACHE" "$R$LITERT"

# 4. The venv with .[kiosk,admin] only, built from a copy of the sources (a build writes build/
#    and *.egg-info beside them: not into the checkout, and not as root).
if [ ! -x "$R$VENV/bin/python" ]; then
    say "creating $R$VENV"
    "$PYTHON" -m venv "$R$VENV"
fi
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
tar -C "$REPO" --exclude=__pycache__ -cf - pyproject.toml README.md fr_utils greeter |
    tar -C "$src" -xf -
stamp="$R$VENV/.greeter-kiosk-installed"
want="$EXTRAS $(sha256sum "$REPO/pyproject.toml" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing .[$EXTRAS] into $R$VENV (about 600 MB)"
    "$R$VENV/bin/python" -m pip install -q --disable-pip-version-check "${src}[$EXTRAS]"
    echo "$want" >"$stamp"
else
    say "updating the greeter in $R$VENV"
    "$R$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
        --force-reinstall "$src"
fi
for tool in $TOOLS; do
    ln -sfn "$VENV/bin/$tool" "$R/usr/local/bin/$tool"
done
install -m 0644 "$REPO/README.md" "$REPO/docs/kiosk.md" "$R$OPT/doc/"

# 5. The weights, with the thresholds measured for them.
weights_path=""
if [ -n "$WEIGHTS" ]; then
    weights_path=$OPT/weights/$(basename "$WEIGHTS")
    rm -rf "$R$weights_path"
    cp -r "$WEIGHTS" "$R$weights_path"
    chmod -R a+rX,go-w "$R$weights_path"
    if [ -f "$(dirname "$WEIGHTS")/THRESHOLDS.json" ]; then
        install -m 0644 "$(dirname "$WEIGHTS")/THRESHOLDS.json" "$R$OPT/weights/"
    fi
fi

if [ -n "$LITERT_FROM" ]; then
    install -m 0644 -o "$USER_NAME" -g "$USER_NAME" "$LITERT_FROM"/* "$R$LITERT/"
fi

# 6. The one config file: the given settings replace, the defaults fill in what is unset,
#    every other key (threshold, admin password hash...) is kept. Written by the project's
#    own JSON writer, which keeps the file's owner and mode: root:USER 0640 from the start
#    (it may hold a database password), never readable by others, not even for a moment.
if [ ! -e "$R$CONF" ]; then
    (umask 077 && echo '{}' >"$R$CONF")
fi
chown "root:$USER_NAME" "$R$CONF"
chmod 0640 "$R$CONF"
PYTHONPATH="$REPO" "$PYTHON" - "$R$CONF" "$DEFAULT_DB" "$LITERT" "$CACHE" \
    "$DB" "$weights_path" "$KIOSK" <<'PY'
import sys

from fr_utils._files import read_json_object, update_json_object

path, default_db, litert, cache, db, weights, kiosk = sys.argv[1:]
config = read_json_object(path, "config file")
updates = {key: value for key, value in (("db", default_db), ("litert", litert),
           ("cache", cache)) if key not in config}
updates.update({key: value for key, value in (("db", db), ("weights", weights),
                ("kiosk", kiosk)) if value})
update_json_object(path, updates, "config file")
PY
db_url=$(PYTHONPATH="$REPO" "$PYTHON" -c \
    'import sys; from fr_utils._files import read_json_object as r; print(r(sys.argv[1])["db"])' \
    "$R$CONF")
grep -q '"weights"' "$R$CONF" ||
    say "warning: no weights configured: run again with --weights FILE"

# 7. A SQLite library is created by its user: an empty file owned by it (SQLite fills it),
#    so an administrator's `greeter-library add` (as root) never leaves it root-owned.
if [ "$db_url" = "$DEFAULT_DB" ] && [ ! -e "$R$STATE/library.db" ]; then
    install -m 0640 -o "$USER_NAME" -g "$USER_NAME" /dev/null "$R$STATE/library.db"
fi

# 8. The systemd unit, as kept in the repository (User=/Group= set to --user).
sed -e "s/^User=kiosk$/User=$USER_NAME/" -e "s/^Group=kiosk$/Group=$USER_NAME/" \
    "$REPO/deploy/greeter.service" >"$R$UNIT.tmp"
chmod 0644 "$R$UNIT.tmp"
mv "$R$UNIT.tmp" "$R$UNIT"
if ((SYSTEMD)); then
    if [ "$R" = "" ] && [ -d /run/systemd/system ]; then
        systemctl daemon-reload
        systemctl enable greeter.service
        systemctl restart greeter.service
        say "greeter.service enabled and (re)started: journalctl -u greeter -f"
    else
        systemctl --root="${R:-/}" enable greeter.service 2>/dev/null
        say "greeter.service enabled; it starts at the next boot"
    fi
fi

say "done. The kiosk reads $CONF; next:"
cat >&2 <<EOF
  * enrol people:    sudo greeter-library add "Ana Lima" ana1.jpg ana2.jpg
  * the admin page:  sudo greeter-admin          (http://127.0.0.1:8080)
  * what happens:    journalctl -u greeter -f ; $LOGS/events.jsonl
  * only for "encoder": "facenet" (the course's model; the default is dlib's ResNet), export
    its LiteRT model (needs TensorFlow: from the repository's .venv, as root):
      sudo .venv/bin/facenet-weights export-litert --weights ${weights_path:-WEIGHTS} \\
          --calibrate FOLDER_OF_FACE_PHOTOS --out $LITERT
EOF
