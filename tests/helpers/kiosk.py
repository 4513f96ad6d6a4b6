"""A greeter set up to work on this machine without a camera, a speaker or shared data: a short
video file as its camera, WAV files for speech, a SQLite library with the people asked for, an
impostor curve for dlib's encoder, an empty config file. For ``greeter doctor`` and the
greeter's start-up tests."""

from pathlib import Path

import cv2
import numpy as np

from tests.helpers.library import new_photo


def grey_video(path: Path, frames: int = 3, size=(320, 240)) -> Path:
    """A short mp4v video of grey frames (no face)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, size)
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    for _ in range(frames):
        writer.write(np.full((size[1], size[0], 3), 90, np.uint8))
    writer.release()
    return path


def impostor_curve(path: Path, model: str) -> Path:
    """An impostor-curve file for encoder ``model`` (``encoder.model_id``), from 20,000
    synthetic stranger distances around 1.1 (roughly dlib's shape)."""
    from fr_utils.open_set import ImpostorCurve

    distances = np.random.default_rng(0).normal(1.1, 0.12, 20_000)
    return ImpostorCurve.from_distances(distances, model, notes={"made": "by the tests"}).to_json(
        path
    )


def library_with(path: Path, names=()) -> str:
    """A SQLite library at ``path`` holding one photo of each of ``names``; its URL."""
    from greeter.library.store import Store

    url = f"sqlite:///{path}"
    with Store(url) as store:
        if names:
            store.add_photos([new_photo(name, seed) for seed, name in enumerate(names)])
    return url


def working_kiosk(folder: Path, names=("Ana Lima",)) -> list[str]:
    """The flags of a greeter (dlib's encoder) that works here, its files under ``folder``: a
    video, ``speech/`` for WAV files, ``library.db`` with ``names`` enrolled, the curve."""
    from fr_utils.dlib_resnet import DlibResNetEncoder

    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "greeter.json"
    config.write_text("{}")
    return [
        "--config", str(config),
        "--video", str(grey_video(folder / "door.mp4")),
        "--speech-to", str(folder / "speech"),
        "--db", library_with(folder / "library.db", names),
        "--open-set", str(impostor_curve(folder / "curve.json", DlibResNetEncoder.model_id)),
        "--cache", str(folder / "cache"),
        "--encoder", "dlib-resnet",
    ]  # fmt: skip
