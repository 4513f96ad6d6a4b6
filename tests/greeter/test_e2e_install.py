"""The kiosk install as a door runs it: scripts/install_kiosk.sh, deploy/greeter.service and
/etc/greeter/greeter.json, which every tool reads by default.

* the unit passes ``systemd-analyze verify`` (no warning at all) and has what a service needs;
* end to end, once per session (about 2 minutes): the installer runs into a temporary root
  (``--root``, with a real throwaway system user and a FRESH venv with ``.[kiosk,admin]``
  only: no TensorFlow), then every command runs as on the installed machine, in a private
  mount namespace where that root's /etc, /opt, /usr/local and /var are overlaid on the
  real ones (nothing outside the root is written):

  1. ``greeter-library add`` as root, with no flag, enrols Lin-Manuel Miranda; the kiosk's
     greeter, as its user with ``runuser`` and the unit's own ``ExecStart``, greets him on the
     Hamilton clip with the default encoder (dlib's ResNet: nothing to export), heard through
     a fake ``aplay``; ``greeter-library events`` and ``greeter-admin`` (as root, no flag)
     see the kiosk's library: the same database;
  2. with ``--encoder facenet`` and no LiteRT model exported: exit status 1 and ONE sentence
     saying what to do, no traceback; after ``facenet-weights export-litert`` (the
     developer's venv, with TensorFlow) into the system LiteRT folder, the FaceNet kiosk
     encodes the people enrolled with dlib again for FaceNet and greets him too.

Needs root, ``unshare`` with overlay mounts, ``useradd``/``runuser``, /usr/bin/python3 with
venv, and PyPI (or a pip cache); without them these tests skip, and fail under ``CI=true``.
"""

import contextlib
import grp
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.helpers import REPO
from tests.helpers import fake_aplay as fake
from tests.helpers.needs import unavailable

UNIT = REPO / "deploy" / "greeter.service"
INSTALLER = REPO / "scripts" / "install_kiosk.sh"
ADMIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CONFIG = "/etc/greeter/greeter.json"
LITERT = "/var/cache/greeter/litert"
WEIGHTS = "/opt/greeter/weights/nn4.small2.v1.h5"


def _need(ok, message):
    """Skip without a prerequisite; under ``CI=true`` fail instead."""
    if not ok:
        unavailable(message)


def _unit_lines(text):
    """``[(section, key, value)]`` of a unit file (keys may repeat)."""
    section, lines = None, []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
        else:
            key, _, value = line.partition("=")
            lines.append((section, key, value))
    return lines


# ----------------------------------------------------------------------------- the unit


def test_unit_has_what_a_boot_time_service_needs():
    lines = _unit_lines(UNIT.read_text())
    settings = {(section, key): value for section, key, value in lines}
    assert "network-online.target" in settings["Unit", "After"]
    assert settings["Unit", "Wants"] == "network-online.target"
    assert settings["Service", "User"] == "kiosk"
    for key in ("StateDirectory", "CacheDirectory", "LogsDirectory"):
        assert settings["Service", key] == "greeter", key
    assert settings["Service", "WorkingDirectory"] == "/var/lib/greeter"
    assert settings["Service", "Restart"] == "always"
    assert settings["Install", "WantedBy"] == "multi-user.target"
    assert settings["Service", "ExecStart"] == (
        "/opt/greeter/venv/bin/greeter --headless --log /var/log/greeter/events.jsonl"
    )


def _verify(unit_text, folder):
    """``systemd-analyze verify`` on ``unit_text``, its ExecStart program replaced by a
    stand-in when /opt/greeter is not installed here (verify checks that it exists)."""
    program = "/opt/greeter/venv/bin/greeter"
    if not os.access(program, os.X_OK):
        stand_in = folder / "greeter"
        stand_in.write_text("#!/bin/sh\n")
        stand_in.chmod(0o755)
        unit_text = unit_text.replace(f"ExecStart={program}", f"ExecStart={stand_in}")
    path = folder / "greeter.service"
    path.write_text(unit_text)
    return subprocess.run(
        ["systemd-analyze", "verify", str(path)],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=60,
    )


def test_unit_passes_systemd_analyze_verify(tmp_path):
    _need(shutil.which("systemd-analyze"), "systemd-analyze not installed (apt install systemd)")
    done = _verify(UNIT.read_text(), tmp_path)
    assert done.returncode == 0 and done.stderr == "" and done.stdout == "", done.stderr
    # The check has teeth: verify exits 0 on a bad value, but says so.
    (tmp_path / "bad").mkdir()
    bad = _verify(UNIT.read_text().replace("Restart=always", "Restart=sometimes"), tmp_path / "bad")
    assert "Failed to parse service restart specifier" in bad.stderr


# ----------------------------------------------------------------------------- installed


class Kiosk:
    """A kiosk installed under ``root`` for user ``user``; :meth:`run` runs a command as on
    the installed machine (root's files overlaid on /etc, /opt, /usr/local and /var)."""

    def __init__(self, root: Path, user: str):
        self.root, self.user = root, user
        self.install_log = ""
        self.install_seconds = 0.0

    def command(self, args, user=None, env=None, cwd="/"):
        env = {"PATH": ADMIN_PATH, "HOME": "/root", "LANG": "C.UTF-8", **(env or {})}
        inner = ["env", "-i", *[f"{k}={v}" for k, v in env.items()], *args]
        if user is not None:
            inner = ["runuser", "-u", user, "--", *inner]
        r = self.root
        script = (
            "set -e\n"
            f"mount -t overlay overlay -o lowerdir={r}/etc:/etc /etc\n"
            f"mount -t overlay overlay -o lowerdir={r}/opt:/opt /opt\n"
            f"mount -t overlay overlay -o lowerdir={r}/usr/local:/usr/local /usr/local\n"
            f"mount -t overlay overlay -o lowerdir=/var,upperdir={r}/var,"
            f"workdir={r}/.overlay-work /var\n"
            f'cd {cwd}\nexec "$@"\n'
        )
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *inner]

    def run(self, args, user=None, env=None, cwd="/", timeout=300):
        return subprocess.run(
            self.command(args, user, env, cwd), capture_output=True, text=True, timeout=timeout
        )

    def service(self, *extra, env=None):
        """The unit's ExecStart (+ ``extra``) as the unit runs it: its user, working folder,
        umask and environment."""
        lines = _unit_lines((self.root / "etc/systemd/system/greeter.service").read_text())
        unit = {key: value for _, key, value in lines}
        environment = dict(pair.split("=", 1) for pair in unit["Environment"].split())
        home = unit["WorkingDirectory"]
        environment.update(HOME=home, USER=self.user, LOGNAME=self.user, **(env or {}))
        command = ["sh", "-c", f'umask {unit["UMask"]} && exec "$@"', "sh"]
        command += [*unit["ExecStart"].split(), *extra]
        return self.run(command, user=self.user, env=environment, cwd=home)


def _can_overlay():
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             f"mount -t overlay overlay -o lowerdir={folder}:/etc /etc"],
            capture_output=True,
        )  # fmt: skip
    return done.returncode == 0


@pytest.fixture(scope="session")
def kiosk(weights_path):
    """The kiosk installed once for the session (a fresh venv: ~20 s with a warm pip cache);
    the user and the root are removed afterwards."""
    _need(os.geteuid() == 0, "the kiosk install tests run as root")
    for tool in ("unshare", "useradd", "userdel", "runuser", "systemctl"):
        _need(shutil.which(tool), f"{tool} not found")
    _need(_can_overlay(), "cannot mount overlays in a private mount namespace here")
    _need(
        subprocess.run(["/usr/bin/python3", "-c", "import venv, ensurepip"]).returncode == 0,
        "/usr/bin/python3 with venv needed (apt install python3-venv)",
    )
    root = Path(tempfile.mkdtemp(prefix="greeter-kiosk-root-", dir="/tmp"))
    root.chmod(0o755)  # the kiosk user reaches the venv's python through it
    (root / ".overlay-work").mkdir()
    user = f"gk-test-{uuid.uuid4().hex[:8]}"
    kiosk = Kiosk(root, user)
    try:
        started = time.monotonic()
        done = subprocess.run(
            ["bash", str(INSTALLER), "--root", str(root), "--user", user, "--no-apt",
             "--weights", str(weights_path), "--kiosk", "test-door"],
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        kiosk.install_seconds = time.monotonic() - started
        kiosk.install_log = done.stderr
        assert done.returncode == 0, done.stderr[-3000:]
        yield kiosk
    finally:
        subprocess.run(["userdel", user], capture_output=True)
        subprocess.run(["groupdel", user], capture_output=True)  # normally gone with the user
        shutil.rmtree(root, ignore_errors=True)


def _stat(path):
    """``(mode, owner, group)`` of ``path``, e.g. ``("0o640", "root", "kiosk")``."""
    st = path.stat()
    return oct(st.st_mode & 0o7777), pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid)[0]


@pytest.mark.slow
@pytest.mark.shared
def test_installer_lays_out_a_kiosk(kiosk):
    root, user = kiosk.root, kiosk.user
    venv = root / "opt/greeter/venv"
    size = subprocess.run(["du", "-sm", str(venv)], capture_output=True, text=True)
    print(f"install: {kiosk.install_seconds:.0f} s, venv {size.stdout.split()[0]} MB")
    account = pwd.getpwnam(user)
    assert account.pw_uid < 1000 and account.pw_shell == "/usr/sbin/nologin"
    assert account.pw_dir == "/var/lib/greeter"
    groups = subprocess.run(["id", "-nG", user], capture_output=True, text=True).stdout.split()
    assert {"video", "audio"} <= set(groups)
    config = root / CONFIG.lstrip("/")
    assert _stat(config) == ("0o640", "root", user)  # no password for other users
    assert json.loads(config.read_text()) == {
        "db": "sqlite:////var/lib/greeter/library.db",
        "litert": LITERT,
        "cache": "/var/cache/greeter",
        "weights": WEIGHTS,
        "kiosk": "test-door",
    }
    assert _stat(root / "var/lib/greeter") == ("0o750", user, user)
    assert _stat(root / "var/lib/greeter/library.db") == ("0o640", user, user)
    assert _stat(root / "var/log/greeter") == ("0o750", user, user)
    assert _stat(root / LITERT.lstrip("/"))[1] == user
    assert (root / "opt/greeter/weights/THRESHOLDS.json").is_file()
    installed = (root / "etc/systemd/system/greeter.service").read_text()
    assert installed == UNIT.read_text().replace("User=kiosk", f"User={user}").replace(
        "Group=kiosk", f"Group={user}"
    )
    wanted = root / "etc/systemd/system/multi-user.target.wants/greeter.service"
    assert os.readlink(wanted) == "/etc/systemd/system/greeter.service"  # enabled
    for tool in ("greeter", "greeter-library", "greeter-admin"):
        assert os.readlink(root / "usr/local/bin" / tool) == f"/opt/greeter/venv/bin/{tool}"
    listed = subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "list", "--format=json"],
        capture_output=True, text=True,
    )  # fmt: skip
    packages = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert {"ai-edge-litert", "pyttsx3", "sqlalchemy", "starlette"} <= packages
    heavy = packages & {"tensorflow", "tensorflow-cpu", "keras", "jupyter", "notebook",
                        "selenium", "pytest", "nbgrader", "matplotlib"}  # fmt: skip
    assert heavy == set()
    # Installing again keeps the config's other settings (a threshold written by
    # facenet-tune, an admin password hash), its owner and mode.
    data = json.loads(config.read_text())
    config.write_text(json.dumps({**data, "threshold": 0.7}))
    again = subprocess.run(
        ["bash", str(INSTALLER), "--root", str(root), "--user", user, "--no-apt"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(config.read_text()) == {**data, "threshold": 0.7}
    assert _stat(config) == ("0o640", "root", user)
    config.write_text(json.dumps(data))  # the session's other tests use the defaults


def _one_sentence_error(stderr):
    """The ``greeter: ...`` line of ``stderr``: exactly one, a single sentence."""
    errors = [line for line in stderr.splitlines() if line.startswith("greeter: ")]
    assert len(errors) == 1, stderr[-3000:]
    sentence = errors[0]
    assert sentence.endswith(".") and not re.search(r"[.!?]\s+[A-Z]", sentence), sentence
    return sentence


def _greetings(kiosk, clip, flags=()):
    """Run the kiosk's service on ``clip`` (heard through a fake aplay) -> (the run, its
    greeting events, the WAVs played); the event log and the sink start empty."""
    log = kiosk.root / "var/log/greeter/events.jsonl"
    log.unlink(missing_ok=True)
    audio = kiosk.root / "test-audio"  # not under pytest's folder: the kiosk user reaches it
    sink = audio / "sink"
    shutil.rmtree(audio, ignore_errors=True)
    fake.sink_aplay(audio / "bin", sink)
    path = f"{audio / 'bin'}:/usr/local/bin:/usr/bin:/bin"
    done = kiosk.service(*flags, "--video", clip, env={"PATH": path})
    assert done.returncode == 0, done.stderr[-3000:]
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e for e in events if e["event"] == "error"] == []
    assert _stat(log)[1] == kiosk.user
    greetings = [e for e in events if e["event"] == "greeting"]
    started = re.search(r"running \(([\d.]+) s to start\)", done.stderr)
    print(
        f"kiosk {' '.join(flags) or '(defaults)'}: {started and started.group(1)} s to start; "
        f"greeted at frames {[g['frame'] for g in greetings]}"
    )  # pytest -s
    return done, greetings, sorted(p.name for p in sink.glob("*.wav"))


HEARD = [
    "0001-silence.wav",  # the start-up check
    "0002-0001-Welcome_Lin_Manuel_Miranda_have_a_nice_day.wav",
]


@pytest.mark.slow
@pytest.mark.shared
def test_the_kiosk_greets_out_of_the_box_with_one_library_for_every_tool(kiosk, video_dir):
    # The administrator, as root, with no flag: the kiosk's library and encoder.
    photo = video_dir / "lin-manuel-miranda.png"
    added = kiosk.run(["greeter-library", "add", "Lin-Manuel Miranda", str(photo)])
    assert added.returncode == 0, added.stderr[-3000:]
    assert "Lin-Manuel Miranda: 1 photo(s) added" in added.stdout

    # The kiosk, as its user, as the unit runs it: dlib's ResNet, nothing exported.
    clip = str(video_dir / "short_hamilton_clip.mp4")
    done, greetings, played = _greetings(kiosk, clip)
    assert "encoder: dlib-resnet" in done.stderr
    assert "threshold from the impostor curve" in done.stderr
    assert f"face library: sqlite:////var/lib/greeter/library.db (from {CONFIG})" in done.stderr
    assert [g["names"] for g in greetings] == [["Lin-Manuel Miranda"]]
    assert 82 <= greetings[0]["frame"] <= 211
    assert played == HEARD

    # One library: root's commands see what the kiosk wrote, and the file stays the kiosk's.
    listed = kiosk.run(["greeter-library", "events", "--json", "--since=-1h"])
    seen = [json.loads(line) for line in listed.stdout.splitlines()]
    assert ("greeting", "test-door", ["Lin-Manuel Miranda"]) in [
        (e["event"], e["kiosk"], e["names"]) for e in seen
    ]
    files = (kiosk.root / "var/lib/greeter").glob("library.db*")
    assert {_stat(p)[1] for p in files} == {kiosk.user}
    assert "Lin-Manuel Miranda" in _admin_people_page(kiosk)


@pytest.mark.slow
@pytest.mark.shared
def test_a_facenet_kiosk_says_what_to_do_then_greets_once_the_model_is_exported(
    kiosk, video_dir, lfw_dir
):
    clip = str(video_dir / "short_hamilton_clip.mp4")
    assert not (kiosk.root / LITERT.lstrip("/") / "litert_manifest.json").exists()
    done = kiosk.service("--encoder", "facenet", "--video", clip)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "ModuleNotFoundError" not in done.stderr
    sentence = _one_sentence_error(done.stderr)
    assert f"facenet-weights export-litert --weights {WEIGHTS}" in sentence
    assert f"--out {LITERT}`" in sentence and "TensorFlow is not installed" in sentence
    assert "[keras]" in sentence

    env = {"PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    exported = kiosk.run(
        [sys.executable, "-m", "fr_utils.cli.weights", "export-litert", "--weights", WEIGHTS,
         "--calibrate", str(lfw_dir / "images"), "--limit", "64", "--out", LITERT],
        env=env, timeout=600,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr[-3000:]
    if "Lin-Manuel Miranda" not in kiosk.run(["greeter-library", "list"]).stdout:
        photo = video_dir / "lin-manuel-miranda.png"  # when run alone
        assert (
            kiosk.run(["greeter-library", "add", "Lin-Manuel Miranda", str(photo)]).returncode == 0
        )
    done, greetings, played = _greetings(kiosk, clip, flags=("--encoder", "facenet"))
    assert "encoder: facenet (litert-int8" in done.stderr
    assert [g["names"] for g in greetings] == [["Lin-Manuel Miranda"]], done.stderr[-3000:]
    assert played == HEARD


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _admin_people_page(kiosk):
    """``greeter-admin`` run by root with no flag: its People page."""
    port = _free_port()
    process = subprocess.Popen(
        kiosk.command(["greeter-admin", "--port", str(port)]),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            url = f"http://127.0.0.1:{port}/people"
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=5) as page:
                return page.read().decode()
            assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
            time.sleep(0.3)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
