"""greeter.doctor (``greeter doctor``): on a setup that works every check is ok and the exit
status 0; each failure (a camera that does not open, no FaceNet weights, no runtime, an
unreachable library, audio that fails, no usable impostor curve, a full disk, a bad config) is a
FAIL line with its fix and exit status 1; nobody enrolled is a warning that tells a wrong
working directory apart; the one-line summary and ``--json``. Real parts throughout: OpenCV on a
video file, the speech engine, a fake ``aplay``, SQLite, dlib's model, the shared weights."""

import json
import os
import re
from types import SimpleNamespace

import pytest

from greeter import __main__ as cli
from greeter import doctor
from greeter.config import Settings
from tests.helpers import fake_aplay
from tests.helpers.kiosk import impostor_curve, working_kiosk
from tests.helpers.processes import greeter_env, run_python
from tests.helpers.servers import free_port

LINE = re.compile(r"^(ok|warning|FAIL) +(\w+) +(.+)$")


@pytest.fixture
def kiosk(tmp_path, monkeypatch):
    """A working kiosk's flags; the working directory is an empty folder (no images/)."""
    monkeypatch.delenv("GREETER_CONFIG", raising=False)
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    return working_kiosk(tmp_path / "kiosk")


def _doctor(capsys, *args):
    """``greeter doctor ARGS`` in this process -> ``(exit status, {check: (level, text)},
    last line)``."""
    code = cli.main(["doctor", *args])
    out = capsys.readouterr().out.strip().splitlines()
    checks = {}
    for line in out[:-1]:
        level, name, text = LINE.match(line).groups()
        checks[name] = (level, text)
    return code, checks, out[-1]


def test_a_working_kiosk_is_ok_everywhere_and_exits_0(kiosk, capsys):
    code, checks, last = _doctor(capsys, *kiosk)
    assert code == 0, checks
    assert list(checks) == ["config", "camera", "audio", "encoder", "library", "people",
                            "threshold", "disk"]  # fmt: skip
    assert {level for level, _ in checks.values()} == {"ok"}, checks
    assert "opens and gives 320x240 frames" in checks["camera"][1]
    assert "written as WAV files" in checks["audio"][1]
    assert "dlib-resnet" in checks["encoder"][1] and "loads and encodes" in checks["encoder"][1]
    assert "is reachable: 1 person with 1 photo" in checks["library"][1]
    assert checks["people"][1].startswith("1 person enrolled (1 photo)")
    assert re.search(r"a stranger is greeted by mistake in about [\d.]+ % of visits at "
                     r"threshold \d\.\d{3}", checks["threshold"][1])  # fmt: skip
    assert " free on " in checks["disk"][1]
    assert "To fix" not in " ".join(text for _, text in checks.values())
    assert re.fullmatch(r"the kiosk can work \(ok: 1 person, video, WAV files, dlib-resnet, "
                        r"threshold \d\.\d{3}; checked in [\d.]+ s\)", last), last  # fmt: skip


def test_the_real_command_prints_json_for_machines(kiosk, tmp_path):
    """``python -m greeter doctor --json``, as a subprocess: the report, parsed."""
    result = run_python("-m", "greeter", "doctor", "--json", *kiosk, cwd=tmp_path,
                        env=greeter_env(), timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["works"] is True and report["level"] == "ok"
    assert report["summary"].startswith("ok: 1 person, video, WAV files, dlib-resnet")
    assert [c["level"] for c in report["checks"]] == ["ok"] * 8
    assert all(set(c) == {"name", "level", "text", "fix"} for c in report["checks"])
    print(f"greeter doctor, working kiosk: {report['seconds']} s of checks")


def _flag(args, name, value=None):
    """``args`` with flag ``name`` set to ``value`` (``None``: left out)."""
    i = args.index(name)
    rest = args[:i] + args[i + 2 :]
    return rest if value is None else [*rest, name, value]


def _facenet(args):
    """The kiosk's flags for FaceNet (the dlib curve left out; the weights' THRESHOLDS.json)."""
    return _flag(_flag(args, "--open-set"), "--encoder", "facenet")


def test_a_camera_that_does_not_open_fails_with_the_fix(kiosk, capsys):
    code, checks, last = _doctor(capsys, *_flag(kiosk, "--video", None), "--camera", "97")
    assert code == 1
    level, text = checks["camera"]
    assert level == "FAIL" and text.startswith("camera 97 does not open. To fix: ")
    assert "--video FILE" in text
    assert "FAIL: camera 97 does not open" in last and "cannot work" in last
    assert {checks[name][0] for name in checks if name != "camera"} == {"ok"}


def test_a_file_that_is_not_a_video_fails(kiosk, capsys, tmp_path):
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video")
    code, checks, _ = _doctor(capsys, *_flag(kiosk, "--video", str(notes)))
    assert code == 1
    assert checks["camera"] == (
        "FAIL",
        f"video {notes} does not open. To fix: check the file is a video OpenCV can read.",
    )


def test_no_facenet_weights_fails_with_how_to_get_them_and_no_litert_advice(
    kiosk, capsys, tmp_path
):
    empty = tmp_path / "weights"
    empty.mkdir()  # the repository's weights/ before a download: a folder, no CSV files
    code, checks, last = _doctor(capsys, *_facenet(kiosk), "--weights", str(empty))
    assert code == 1
    level, text = checks["weights"]
    assert level == "FAIL" and text.startswith(f"{empty} holds no weights")
    assert "To fix: Download the public OpenFace nn4.small2.v1 CSV files" in text
    assert "encoder" not in checks  # nothing to say about a runtime without weights
    assert "LiteRT" not in " ".join(t for _, t in checks.values())
    assert (
        checks["threshold"][0] == "warning" and "depends on the encoder" in checks["threshold"][1]
    )
    assert "FAIL: no weights" in last


def test_facenet_without_a_litert_model_falls_back_to_tensorflow_with_a_warning(
    kiosk, capsys, tmp_path, weights_path
):
    """TensorFlow is installed here: the greeter would use it. The doctor says so (without
    loading it) and gives the exact export command."""
    litert = tmp_path / "litert"
    litert.mkdir()
    args = [*_facenet(kiosk), "--weights", str(weights_path), "--litert", str(litert)]
    code, checks, _ = _doctor(capsys, *args)
    assert code == 0, checks
    assert checks["weights"][0] == "ok"
    assert "re-learned tensors" in checks["weights"][1]  # the shared set is not the official one
    assert "fingerprint" in checks["weights"][1]
    level, text = checks["encoder"]
    assert level == "warning" and f"no LiteRT model exported for these weights in {litert}" in text
    assert (
        f"`facenet-weights export-litert --weights {weights_path} --calibrate "
        f"FOLDER_OF_FACE_PHOTOS --out {litert}`" in text
    )


def test_facenet_without_tensorflow_or_a_litert_model_fails(
    kiosk, capsys, tmp_path, weights_path, monkeypatch
):
    from fr_utils import encoding

    monkeypatch.setattr(encoding, "tensorflow_installed", lambda: False)  # a lean .[kiosk]
    litert = tmp_path / "litert"
    litert.mkdir()
    args = [*_facenet(kiosk), "--weights", str(weights_path), "--litert", str(litert)]
    code, checks, last = _doctor(capsys, *args)
    assert code == 1
    level, text = checks["encoder"]
    assert level == "FAIL" and "TensorFlow is not installed here" in text
    assert f"--out {litert}` where TensorFlow is installed" in text
    assert "FAIL: no LiteRT model, no TensorFlow" in last


def test_facenet_on_the_exported_litert_model_is_ok(kiosk, capsys, weights_path, exported):
    folder, _ = exported
    args = [*_facenet(kiosk), "--weights", str(weights_path), "--litert", str(folder)]
    code, checks, last = _doctor(capsys, *args)
    assert code == 0, checks
    level, text = checks["encoder"]
    assert level == "ok" and f"the model exported for these weights in {folder}" in text
    assert "facenet (litert-int8)" in last


def test_an_unreachable_library_fails_with_its_url_masked(kiosk, capsys):
    url = f"postgresql://greeter:s3cret@127.0.0.1:{free_port()}/greeter"  # nobody listens
    code, checks, last = _doctor(capsys, *_flag(kiosk, "--db", url))
    assert code == 1
    level, text = checks["library"]
    assert level == "FAIL" and "postgresql://greeter:***@127.0.0.1" in text
    assert "cannot be reached" in text and "To fix: check the server is up" in text
    assert "s3cret" not in json.dumps(checks)
    assert "people" not in checks and "depends on the library" in checks["threshold"][1]
    assert "FAIL: library unreachable" in last


def test_failing_audio_fails_with_the_fix(kiosk, capsys, tmp_path, monkeypatch):
    """No sound card (the fake aplay prints what the real one does here): FAIL, exit 1."""
    fake_aplay.failing_aplay(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    code, checks, last = _doctor(capsys, *_flag(kiosk, "--speech-to", None))
    assert code == 1
    level, text = checks["audio"]
    assert level == "FAIL"
    assert "greetings would not be heard: aplay exited with status 1: aplay: main:831" in text
    assert "To fix: no sound card found" in text
    assert "FAIL: no audio" in last


def test_working_audio_plays_the_start_check(kiosk, capsys, tmp_path, monkeypatch):
    sink = tmp_path / "sink"
    fake_aplay.sink_aplay(tmp_path / "bin", sink)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    code, checks, _ = _doctor(capsys, *_flag(kiosk, "--speech-to", None))
    assert code == 0
    assert checks["audio"][0] == "ok" and "played 0.1 s of silence" in checks["audio"][1]
    assert [p.name for p in sink.glob("*.wav")] == ["0001-silence.wav"]


def test_no_speech_says_so(kiosk, capsys):
    code, checks, last = _doctor(capsys, *_flag(kiosk, "--speech-to", None), "--no-speech")
    assert code == 0
    assert checks["audio"] == (
        "ok",
        "speech is off (--no-speech): greetings are logged, not spoken.",
    )
    assert "speech off" in last


def test_a_curve_for_another_encoder_fails_the_threshold(kiosk, capsys, tmp_path):
    other = impostor_curve(tmp_path / "other.json", "facenet-0000000000000000-flip")
    code, checks, _ = _doctor(capsys, *_flag(kiosk, "--open-set", str(other)))
    assert code == 1
    level, text = checks["threshold"]
    assert level == "FAIL" and "measured for facenet-0000000000000000-flip" in text


# ---- nobody enrolled: a warning (the kiosk works, it greets nobody), and why


def test_nobody_enrolled_and_no_images_folder_is_the_wrong_working_directory(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("GREETER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    code, checks, last = _doctor(capsys, *working_kiosk(tmp_path / "kiosk", names=()))
    assert code == 0  # warnings allowed
    level, text = checks["people"]
    assert level == "warning"
    assert text.startswith(f"0 people enrolled and no images/ folder in {tmp_path}: nobody")
    assert "greeter-library add" in text and "--images DIR" in text
    assert last.startswith("the kiosk can work (warning: 0 people enrolled; video, WAV files")


def test_nobody_enrolled_with_an_empty_images_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GREETER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "images").mkdir()
    code, checks, _ = _doctor(capsys, *working_kiosk(tmp_path / "kiosk", names=()))
    assert code == 0
    assert checks["people"] == (
        "warning",
        "0 people enrolled: nobody will be greeted. To fix: add photos to images/ (NAME.jpg or "
        "NAME/*.jpg) or `greeter-library add NAME PHOTO...`.",
    )


def test_photos_waiting_in_the_images_folder_count(tmp_path, capsys, monkeypatch):
    """The greeter enrols the folder at start: its photos count towards the gallery (and its
    threshold), the library's people too, each person once."""
    monkeypatch.delenv("GREETER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    images = tmp_path / "images"
    (images / "Ben Okafor").mkdir(parents=True)
    for path in (images / "Ana Lima.jpg", images / "Ben Okafor" / "1.jpg",
                 images / "Ben Okafor" / "2.png", images / "notes.txt"):  # fmt: skip
        path.write_bytes(b"not decoded by the doctor")
    code, checks, _ = _doctor(capsys, *working_kiosk(tmp_path / "kiosk", names=("Ana Lima",)))
    assert code == 0
    assert checks["people"] == (
        "ok",
        "2 people enrolled (4 photos), of which 3 photos in images are not in the library yet: "
        "the greeter enrols them at start.",
    )
    assert checks["threshold"][1].startswith("2 people enrolled (4 photos): ")


# ---- disk space, the config, the summary


def _settings(tmp_path, **values):
    settings = Settings(db=f"sqlite:///{tmp_path / 'library.db'}", cache=str(tmp_path / "c"))
    for name, value in values.items():
        setattr(settings, name, value)
    return settings


def test_disk_space_warns_then_fails(tmp_path):
    def usage(free):
        return lambda path: SimpleNamespace(free=free)

    settings = _settings(tmp_path, log=str(tmp_path / "log" / "events.jsonl"))
    check = doctor.disk_check(settings, usage=usage(5 * 2**30))
    assert check.level == "ok" and "5.0 GB free on " in check.text
    assert "for the library, log, cache" in check.text  # one file system: one figure
    check = doctor.disk_check(settings, usage=usage(300 * 2**20))
    assert check.level == "warning" and check.text.startswith("300.0 MB free on ")
    check = doctor.disk_check(settings, usage=usage(20 * 2**20))
    assert check.level == "FAIL" and "free some space" in check.fix
    assert check.short == "disk 20.0 MB free"


def test_a_bad_config_is_one_fail_line(tmp_path, capsys):
    config = tmp_path / "greeter.json"
    config.write_text(json.dumps({"colour": "red"}))
    code, checks, last = _doctor(capsys, "--config", str(config))
    assert code == 1
    assert checks["config"][0] == "FAIL" and "unknown setting 'colour'" in checks["config"][1]
    assert "FAIL: config" in last


def test_the_summary_and_the_kiosk_status_line():
    ok = doctor.Check("people", "ok", "2 people enrolled", None, "2 people")
    cam = doctor.Check("camera", "ok", "opens", None, "camera 0")
    warn = doctor.Check("people", "warning", "0 people", "add", "0 people enrolled")
    fail = doctor.Check(
        "camera", "FAIL", "camera 0 does not open", "plug", "camera 0 does not open"
    )
    assert doctor.Report([ok, cam]).summary() == "ok: 2 people, camera 0"
    assert doctor.Report([warn, cam]).summary() == "warning: 0 people enrolled; camera 0"
    assert doctor.Report([warn, fail, cam]).summary() == "FAIL: camera 0 does not open"
    assert not doctor.Report([fail]).works and doctor.Report([warn]).works
    long = doctor.Check("camera", "FAIL", "x", None, "stream " + "y" * 300 + " does not open")
    status = doctor.kiosk_status(doctor.Report([long]))
    assert len(status) == doctor.STATUS_LENGTH and status.endswith("…")
    with pytest.raises(ValueError, match="level must be one of"):
        doctor.Check("camera", "error", "x")


def test_doctor_help_names_the_exit_status():
    result = run_python("-m", "greeter", "doctor", "--help", env=greeter_env())
    assert result.returncode == 0, result.stderr
    assert "Exit status 0 when it can work" in " ".join(result.stdout.split())
    assert "--json" in result.stdout and "--camera" in result.stdout


def test_a_check_that_breaks_is_a_fail_line_and_the_others_still_run(kiosk, capsys, monkeypatch):
    from greeter import camera

    def broken(source):
        raise RuntimeError("the driver crashed")

    monkeypatch.setattr(camera, "open_capture", broken)
    code, checks, last = _doctor(capsys, *kiosk)
    assert code == 1
    assert checks["camera"] == (
        "FAIL",
        "could not be checked: RuntimeError: the driver crashed.",
    )
    assert [level for level, _ in checks.values()].count("ok") == 7
    assert "FAIL: camera unchecked" in last
