"""dlib's ResNet face encoder (the model ``face_recognition`` uses) behind the encoder interface.

A second, stronger encoder for the greeter: a 29-layer ResNet trained by Davis King on about
3 million faces, published at 99.38 % on LFW. On this project's protocol (LFW View 2 folds
6-10, ``facenet-tune --lfw ../shared/data/lfw --encoder dlib-resnet``) it scores 0.991
against FaceNet nn4.small2's 0.933, and keeps 99 % of same-person pairs at a 1 %
false-accept rate against 72 %; with 200 people enrolled it misses 13 % of enrolled visitors
where FaceNet misses 82 % (``bench/bench_open_set.py``). It costs 70-95 ms of one core per
face on this 2-core machine (batching does not help, and dlib holds Python's lock while it
computes), against ~2 ms for the int8 FaceNet: the greeter encodes each visit only until it
is decided.

Its weights ship inside the ``face-recognition-models`` package (already installed for the
68-landmark model) and ``dlib`` runs it; no TensorFlow is involved.

Faces are aligned the way it was trained: the same 68 landmarks, then dlib's own face chip
(150 x 150, padding 0.25: :class:`fr_utils.align.ChipAligner`). Its descriptors are not unit
length (norms 1.2-1.7, median 1.42 on LFW); :class:`DlibResNetEncoder` returns them
normalised to unit length, so every distance, cache and threshold in the project keeps one
meaning (plain L2 between unit vectors, 0 to 2). Normalising costs nothing and helps a
little: LFW pairs 0.991 against 0.989 raw, and with 200 people enrolled 19 % of enrolled
visitors missed against 25 % raw (face_recognition's 0.6 on raw descriptors is about 0.42
here).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fr_utils.align import load_dlib_model, shipped_model

MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
NAME = "dlib-resnet"
CHIP_SIZE = 150
CHIP_PADDING = 0.25


def model_path() -> Path:
    """The ResNet model file shipped by ``face-recognition-models``."""
    return shipped_model(MODEL_FILE, "dlib's face encoder")


class DlibResNetEncoder:
    """Aligned face chips -> unit 128-d descriptors: ``encoder(chips) -> float32 (N, 128)``.

    Chips are ``uint8 (150, 150, 3)`` BGR, as :class:`fr_utils.align.ChipAligner` makes them
    from OpenCV frames (:meth:`make_aligner`). The model (~22 MB) loads on first use, once
    per process. Thread-safe, but dlib holds Python's lock while it computes (~90 ms a face):
    other threads wait meanwhile.

    Args:
        path: the model file (``None``: the one in ``face-recognition-models``).
    """

    name = NAME
    model_id = f"{NAME}-v1-unit"  # the model, for what is measured about it (open_set)
    runtime = "dlib"
    flip = False  # dlib's chips are not flip-averaged: it would double a 70 ms cost

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else None

    def __repr__(self) -> str:
        return "DlibResNetEncoder()"

    @property
    def model(self):
        path = self.path or model_path()
        return load_dlib_model("face_recognition_model_v1", path, "dlib's face encoder")

    def make_aligner(self):
        """The aligner whose crops this encoder takes (dlib's 150 px face chip)."""
        from fr_utils.align import ChipAligner

        return ChipAligner(CHIP_SIZE, CHIP_PADDING)

    def __call__(self, chips) -> np.ndarray:
        """BGR chips ``uint8 (150, 150, 3)`` -> ``float32 (N, 128)`` unit vectors."""
        if len(chips) == 0:
            return np.zeros((0, 128), np.float32)
        rgb = []
        for chip in chips:
            chip = np.asarray(chip)
            if chip.shape != (CHIP_SIZE, CHIP_SIZE, 3) or chip.dtype != np.uint8:
                raise ValueError(
                    f"Expected face chips of shape ({CHIP_SIZE}, {CHIP_SIZE}, 3) uint8 (BGR). "
                    f"Received: shape={chip.shape}, dtype={chip.dtype}"
                )
            rgb.append(np.ascontiguousarray(chip[:, :, ::-1]))
        vectors = np.asarray(self.model.compute_face_descriptor(rgb), np.float32).reshape(-1, 128)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def warm_up(self) -> None:
        """Load the model and run it once (the first call costs ~0.3 s more)."""
        self(np.zeros((1, CHIP_SIZE, CHIP_SIZE, 3), np.uint8))

    def cache_key(self) -> str:
        """What its encodings depend on: the model and the normalisation."""
        return self.model_id
