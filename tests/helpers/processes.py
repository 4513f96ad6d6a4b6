"""The project's programs as subprocesses: ``python -c``/``-m`` runs, the REAL greeter
(``python -m greeter``) and ``greeter-library``, for the end-to-end tests (fleet, admin, folder,
stream, start-up) and the import checks.

Every wait is bounded; :meth:`Greeter.stop` sends SIGTERM (the clean ``systemctl stop``) and
kills the process only if it does not end in time.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2

from tests.helpers import REPO
from tests.helpers.waiting import wait_for


def greeter_env(weights: Path | None = None, **extra: str) -> dict:
    """The environment of a greeter (or another project command) started by a test: this
    checkout's code (``PYTHONPATH``), no config file from the user (``GREETER_CONFIG=""``),
    TensorFlow's C++ log quiet, ``$FACENET_WEIGHTS`` = ``weights`` if given; then ``extra``."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3", "GREETER_CONFIG": ""}
    if weights is not None:
        env["FACENET_WEIGHTS"] = str(weights)
    return {**env, **extra}


def run_python(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """``python ARGS`` with this interpreter, in the repository root unless ``cwd`` is given, run
    to the end: text output captured, no exception on a non-zero exit (check ``returncode``)."""
    kwargs.setdefault("cwd", REPO)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout, check=False, **kwargs)  # fmt: skip


def greeter_command(*args: str) -> list[str]:
    """``python -m greeter --headless --no-speech ARGS``: the greeter as the tests start it."""
    return [sys.executable, "-m", "greeter", "--headless", "--no-speech", *args]


def facing_video(clip: Path, path: Path, first: int = 86, last: int = 206, step: int = 2) -> Path:
    """The Hamilton clip's frames ``first..last`` (1-based; Lin-Manuel Miranda faces the camera
    in 82-210) with every ``step``-th kept, written to ``path`` (mp4v, the clip's size and
    rate). With ``--loop`` he is in view all the time, so with ``--cooldown 2`` a kiosk that
    knows him greets him every ~2 s, and one that does not never does."""
    capture = cv2.VideoCapture(str(clip))
    assert capture.isOpened(), clip
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 15.0, size)
    assert writer.isOpened(), path
    number = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        number += 1
        if first <= number <= last and (number - first) % step == 0:
            writer.write(frame)
    capture.release()
    writer.release()
    return path


class Greeter:
    """``python -m greeter --headless --no-speech ...`` writing its JSON-lines log and stderr
    under ``folder``, its state (instance id, event spool) in ``folder/state``; the weights
    come from ``$FACENET_WEIGHTS`` (set by the test)."""

    def __init__(self, folder: Path, video: Path, *args: str, name: str = "greeter",
                 weights: Path | None = None, env: dict | None = None, nice: int = 0):  # fmt: skip
        folder.mkdir(parents=True, exist_ok=True)
        self.name, self.log, self.stderr_path = (
            name,
            folder / f"{name}.jsonl",
            folder / f"{name}.err",
        )
        config = folder / "empty-config.json"
        config.write_text("{}")
        environment = greeter_env(**(env or {}))
        if weights is not None:
            environment["FACENET_WEIGHTS"] = str(weights)
        self.cmd = greeter_command(
            "--video", str(video), "--log", str(self.log), "--config", str(config),
            "--cache", str(folder / "cache"), "--state", str(folder / "state"), *args,
        )  # fmt: skip
        self.env, self.cwd = environment, folder
        self.process, self._offset, self.nice = None, 0, nice
        self.start()

    def start(self) -> None:
        self._offset = len(self.stderr())  # a restart appends: wait_running reads past this
        with self.stderr_path.open("a") as stderr:
            self.process = subprocess.Popen(
                self.cmd, cwd=self.cwd, env=self.env, stdout=subprocess.DEVNULL, stderr=stderr,
                preexec_fn=(lambda: os.nice(self.nice)) if self.nice else None,
            )  # fmt: skip

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stderr(self) -> str:
        return self.stderr_path.read_text() if self.stderr_path.exists() else ""

    def events(self, kind: str | None = None) -> list[dict]:
        """The JSON-lines log (a half-written last line is left out)."""
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        records = []
        for line in lines:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return [r for r in records if kind is None or r["event"] == kind]

    def wait_running(self, timeout: float = 120) -> None:
        """Until the greeter has loaded its library and started on the video."""
        assert wait_for(
            lambda: "running (" in self.stderr()[self._offset :], timeout, alive=self.alive
        ), f"{self.name} did not start: {self.stderr()[-3000:]}"

    def why(self) -> str:
        return f"{self.name} stderr: {self.stderr()[-3000:]}"

    def kill(self) -> None:
        """SIGKILL, mid-run: no clean-up at all."""
        self.process.kill()
        self.process.wait(timeout=30)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM and wait; returns the exit status (killed after ``timeout`` s)."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
            raise AssertionError(f"{self.name} did not stop on SIGTERM; {self.why()}") from None


def library_cli(*args: str, timeout: float = 180, weights: Path | None = None):
    """``python -m greeter.library.cli ARGS`` (the ``greeter-library`` console script), run to
    the end -> ``CompletedProcess`` (text)."""
    return run_python("-m", "greeter.library.cli", *args, env=greeter_env(weights),
                      timeout=timeout)  # fmt: skip


def start_library_cli(*args: str, weights: Path | None = None) -> subprocess.Popen:
    """The same, started in the background (``.communicate(timeout=...)`` to finish it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "greeter.library.cli", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=greeter_env(weights),
    )  # fmt: skip
