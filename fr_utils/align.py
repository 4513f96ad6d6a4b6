"""Faces aligned the way the weights were trained: dlib box -> 68 landmarks -> affine warp.

OpenFace trained nn4.small2.v1 on faces aligned like this (its ``AlignDlib`` with
``OUTER_EYES_AND_NOSE``): a face box from dlib's HOG frontal detector, dlib's 68-point
shape predictor inside that box, then the affine transform that puts the outer eye
corners and the nose tip (landmarks 36, 45, 33) on fixed points of a ``size x size``
square. ::

    detector, aligner = DlibDetector(), FaceAligner()
    for box, crop in align_faces("photo.jpg", detector, aligner):
        ...  # crop: uint8 (96, 96, 3) BGR, ready for fr_utils.encoding.encode_faces

Coordinates are pixels, ``x`` to the right and ``y`` down; boxes are ``x, y, w, h``.
Images are BGR ``uint8`` as OpenCV delivers them. Importing this module does no work:
dlib is imported, and the detector and the shape predictor (~0.6-1 s each) are loaded,
on first use, once per process (the detector once per thread).
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fr_utils.faces import NoFaceFound
from fr_utils.preprocess import load_image

# The landmarks the warp uses: outer corner of the left eye (in the image), outer corner
# of the right eye, nose tip (dlib's 68-point numbering, from 0).
OUTER_EYES_AND_NOSE = (36, 45, 33)
# Where they go, as fractions of the crop's side: OpenFace's mean face, min-max
# normalised to [0, 1] (its MINMAX_TEMPLATE rows 36, 45, 33).
TEMPLATE = np.array(
    [(0.194157, 0.169267), (0.788859, 0.158171), (0.494951, 0.514441)], dtype=np.float32
)
MIN_PHOTO_SIDE = 24  # pixels: a photo whose shorter side is below this cannot show a face
UPSCALE_TO = 320  # enrollment photos with a shorter side below this are enlarged to it
DETECT_MAX_SIDE = 1600  # larger photos are shrunk to this (longer side) for detection

_PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
_PREDICTORS: dict[str, object] = {}  # (kind, path) -> a loaded dlib model, shared
_PREDICTOR_LOCK = threading.Lock()
_THREAD = threading.local()  # .detector: this thread's dlib HOG detector (it has no settings)


class FaceTooSmall(NoFaceFound):
    """The image is too small to hold a face (shorter side below :data:`MIN_PHOTO_SIDE`)."""


def shipped_model(file_name: str, what: str) -> Path:
    """A dlib model file shipped by the ``face-recognition-models`` package (``what`` names it
    in the error). Found without importing the package (its ``__init__`` imports the
    deprecated ``pkg_resources``). Raises ``ModuleNotFoundError`` saying what to install."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{what} is missing: pip install face-recognition-models")
    return Path(next(iter(spec.submodule_search_locations))) / "models" / file_name


def predictor_path() -> Path:
    """The 68-landmark model file shipped by the ``face-recognition-models`` package."""
    return shipped_model(_PREDICTOR_FILE, "The 68-landmark model")


def load_dlib_model(kind: str, path: Path, what: str):
    """``dlib.<kind>(path)`` (e.g. ``shape_predictor``), loaded once per process and shared
    (thread-safe); a missing file is a ``FileNotFoundError`` naming ``what`` and the fix."""
    key = (kind, str(path))
    model = _PREDICTORS.get(key)
    if model is None:
        with _PREDICTOR_LOCK:
            model = _PREDICTORS.get(key)
            if model is None:
                if not Path(path).is_file():
                    raise FileNotFoundError(
                        f"{path}: {what} file is missing; reinstall face-recognition-models."
                    )
                model = _PREDICTORS[key] = getattr(_dlib(), kind)(str(path))
    return model


def _dlib():
    try:
        import dlib
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ModuleNotFoundError("dlib is missing: pip install dlib-bin") from err
    return dlib


def _to_rgb_or_gray(image) -> np.ndarray:
    """A ``uint8`` BGR/BGRA/grayscale array as dlib wants it: RGB ``(H, W, 3)`` or ``(H, W)``."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"Expected a uint8 image. Received: dtype={image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return np.ascontiguousarray(image)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    raise ValueError(
        f"Expected a BGR (H, W, 3), BGRA (H, W, 4) or grayscale (H, W) image. "
        f"Received: shape={image.shape}"
    )


def _order_boxes(boxes: np.ndarray, shape: tuple, order: str) -> np.ndarray:
    if order == "centre":
        centres = boxes[:, :2] + boxes[:, 2:] / 2
        key = np.hypot(*(centres - np.array(shape[1::-1]) / 2).T)
    else:
        key = -boxes[:, 2] * boxes[:, 3]
    return boxes[np.argsort(key, kind="stable")]


@dataclass(frozen=True)
class DlibDetector:
    """dlib's HOG frontal-face detector (the one OpenFace aligned its training faces with).

    ``detector(image) -> int (K, 4)`` boxes ``x, y, w, h`` in the image's pixels,
    clipped to the image (boxes with nothing left inside are dropped).

    Args:
        upsample: times the image is doubled before detection. 0 finds faces from about
            80 px wide (~25 ms on a 640x480 frame here); 1 finds them from about 40 px
            but costs ~4x as much.
        order: which face comes first: ``"largest"`` (a person's own photo) or
            ``"centre"`` (nearest the image centre, as LFW's photos are centred).
        max_side: a larger image (longer side, pixels) is shrunk to this for detection
            and the boxes are scaled back; ``None`` never shrinks. Phone photos
            (4000x3000) then cost what a 1600x1200 photo does.

    Thread-safe: each thread uses its own dlib detector (built on first use, ~0.8 s, and
    shared by every ``DlibDetector`` of that thread).
    """

    upsample: int = 0
    order: str = "largest"
    max_side: int | None = DETECT_MAX_SIDE
    thread_safe = True  # class attribute, not a setting

    def __post_init__(self):
        if not (isinstance(self.upsample, (int, np.integer)) and 0 <= self.upsample <= 3):
            raise ValueError(
                f"DlibDetector.upsample must be 0, 1, 2 or 3. Received: upsample={self.upsample}"
            )
        if self.order not in ("largest", "centre"):
            raise ValueError(
                f"DlibDetector.order must be 'largest' or 'centre'. Received: order={self.order!r}"
            )
        if self.max_side is not None and not self.max_side >= 64:
            raise ValueError(
                f"DlibDetector.max_side must be >= 64 or None. Received: max_side={self.max_side}"
            )

    @staticmethod
    def _detector():
        detector = getattr(_THREAD, "detector", None)
        if detector is None:
            detector = _THREAD.detector = _dlib().get_frontal_face_detector()
        return detector

    def cache_key(self) -> str:
        """The settings that change the boxes, as text (part of encoding-cache keys)."""
        return f"dlib-hog-up{self.upsample}-{self.order}-max{self.max_side}"

    def __call__(self, image) -> np.ndarray:
        """Face boxes ``int (K, 4)`` ``x, y, w, h`` in ``image``'s pixels, ordered by ``order``.

        ``image``: BGR ``uint8 (H, W, 3)`` (BGRA and grayscale ``(H, W)`` also work).
        """
        pixels = _to_rgb_or_gray(image)
        height, width = pixels.shape[:2]
        scale = 1.0
        if self.max_side is not None and max(height, width) > self.max_side:
            scale = max(height, width) / self.max_side
            size = (max(1, round(width / scale)), max(1, round(height / scale)))
            pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
        rects = self._detector()(pixels, int(self.upsample))
        boxes = np.array(
            [(r.left(), r.top(), r.right() + 1, r.bottom() + 1) for r in rects], dtype=float
        ).reshape(-1, 4)
        boxes = np.round(boxes * scale)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
        boxes[:, 2:] -= boxes[:, :2]  # corners -> x, y, w, h
        boxes = boxes[(boxes[:, 2] > 0) & (boxes[:, 3] > 0)].astype(int)
        return _order_boxes(boxes, (height, width), self.order)


def alignment_matrix(landmarks: np.ndarray, size: int = 96) -> np.ndarray:
    """The ``float (2, 3)`` affine map from image pixels to the aligned ``size x size`` crop.

    It sends ``landmarks`` 36, 45, 33 (``(68, 2)`` image pixels, ``x, y``) exactly onto
    ``size * TEMPLATE``. Apply it to points ``p`` as ``M[:, :2] @ p + M[:, 2]``.
    """
    source = np.asarray(landmarks, dtype=np.float32)[list(OUTER_EYES_AND_NOSE)]
    return cv2.getAffineTransform(source, (size * TEMPLATE).astype(np.float32))


# A Haar box (OpenCV's frontalface_default cascade) reframed like dlib's box of the same face:
# x += 0.081 w, y += 0.137 w, side 0.905 w. Medians over 100 LFW photos (bench/bench_align.py);
# on 100 others it halves the 95th percentile of the landmark shift (3.7 -> 1.7 crop px).
HAAR_TO_DLIB = (0.081, 0.137, 0.905)


def dlib_like_box(haar_box) -> np.ndarray:
    """A Haar box ``x, y, w, h`` reframed the way dlib's detector frames the same face.

    The shape predictor was trained on dlib's boxes; feeding it this box instead of the
    raw Haar box brings its landmarks closer to the ones a dlib box gives
    (:data:`HAAR_TO_DLIB`). Returns ``int (4,)`` ``x, y, w, h`` (it may leave the image).
    """
    x, y, w, _ = np.asarray(haar_box, dtype=float).reshape(4)
    dx, dy, scale = HAAR_TO_DLIB
    side = scale * w
    return np.round([x + dx * w, y + dy * w, side, side]).astype(int)


def _as_rectangle(box):
    """A dlib.rectangle for ``box``: ``x, y, w, h`` (any detector's) or a dlib.rectangle."""
    dlib = _dlib()
    if isinstance(box, dlib.rectangle):
        return box
    values = np.asarray(box, dtype=float).reshape(-1)
    if values.shape != (4,) or not np.all(np.isfinite(values)) or min(values[2:]) <= 0:
        raise ValueError(f"Expected a face box x, y, w, h with w, h > 0. Received: box={box!r}")
    x, y, w, h = (round(float(v)) for v in values)
    return dlib.rectangle(x, y, x + max(w, 1) - 1, y + max(h, 1) - 1)


class FaceAligner:
    """68-landmark alignment: ``aligner.align(bgr_image, box) -> uint8 (size, size, 3)`` BGR.

    The shape predictor (dlib's ``shape_predictor_68_face_landmarks.dat`` from the
    ``face-recognition-models`` package, ~0.6-1 s to load) is loaded on first use and
    shared by every aligner in the process. Boxes may come from any detector (a Haar box
    works; the predictor was trained on dlib's boxes, which frame the face a little
    differently). Landmarks and the warp use the image they are given: pass the
    full-resolution frame even when detection ran on a smaller copy.

    Thread-safe (dlib holds Python's lock while it predicts).
    """

    thread_safe = True

    def __init__(self, size: int = 96, predictor: str | Path | None = None):
        if not (isinstance(size, (int, np.integer)) and size >= 16):
            raise ValueError(f"FaceAligner.size must be an integer >= 16. Received: size={size}")
        self.size = int(size)
        self._predictor_path = Path(predictor) if predictor is not None else None

    def __repr__(self) -> str:
        return f"FaceAligner(size={self.size})"

    @property
    def predictor(self):
        """The loaded dlib shape predictor (loads it on first use)."""
        path = self._predictor_path or predictor_path()
        return load_dlib_model("shape_predictor", path, "the 68-landmark model")

    def cache_key(self) -> str:
        """The settings that change the crops, as text (part of encoding-cache keys)."""
        return f"dlib68-outer-eyes-nose-{self.size}"

    def landmarks(self, image, box) -> np.ndarray:
        """The 68 landmarks of the face in ``box``: ``float (68, 2)`` image pixels ``x, y``.

        ``image``: BGR ``uint8`` (or grayscale); ``box``: ``x, y, w, h`` or a dlib.rectangle.
        """
        shape = self.predictor(_to_rgb_or_gray(image), _as_rectangle(box))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)

    def align_landmarks(self, image, landmarks: np.ndarray) -> np.ndarray:
        """Warp ``image`` so ``landmarks`` 36/45/33 land on the template.

        Returns ``uint8 (size, size, 3)`` in ``image``'s colour order.
        """
        image = np.asarray(image)
        matrix = alignment_matrix(landmarks, self.size)
        return cv2.warpAffine(image, matrix, (self.size, self.size), flags=cv2.INTER_LINEAR)

    def align(self, image, box) -> np.ndarray:
        """The aligned face crop for ``box``: ``uint8 (size, size, 3)``, BGR like ``image``.

        Outside the image the crop is black (as OpenFace's).
        """
        return self.align_landmarks(image, self.landmarks(image, box))


class ChipAligner(FaceAligner):
    """dlib's own face chip (what its ResNet face encoder was trained on): the same 68
    landmarks, then ``dlib.get_face_chip``'s alignment to ``size x size`` (150) with
    ``padding`` (0.25) around the face. ``align`` returns ``uint8 (size, size, 3)`` in the
    image's colour order (BGR for OpenCV frames)."""

    def __init__(self, size: int = 150, padding: float = 0.25, predictor=None):
        super().__init__(size, predictor)
        if not 0.0 <= float(padding) <= 1.0:
            raise ValueError(f"ChipAligner.padding must be in [0, 1]. Received: {padding}")
        self.padding = float(padding)

    def __repr__(self) -> str:
        return f"ChipAligner(size={self.size}, padding={self.padding})"

    def cache_key(self) -> str:
        return f"dlib68-chip-{self.size}-pad{self.padding:g}"

    def align_landmarks(self, image, landmarks: np.ndarray) -> np.ndarray:
        dlib = _dlib()
        points = np.asarray(landmarks, dtype=np.float64)
        left, top = np.floor(points.min(axis=0))
        right, bottom = np.ceil(points.max(axis=0))
        rect = dlib.rectangle(int(left), int(top), int(right), int(bottom))
        shape = dlib.full_object_detection(
            rect, [dlib.point(round(float(x)), round(float(y))) for x, y in points]
        )
        image = np.ascontiguousarray(np.asarray(image))
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        return dlib.get_face_chip(image[:, :, :3], shape, size=self.size, padding=self.padding)


def yaw_degrees(landmarks: np.ndarray) -> float:
    """How far a face is turned left or right, in degrees, from its 68 landmarks: 0 frontal,
    ±90 in profile. The nose tip (30) against the middle of the jaw line's ends (0, 16), over
    half the jaw width, read as the sine of the angle of a cylinder-shaped head; positive:
    turned towards the image's right. (A 3-D pose fit reads 10-25° more; the sign agrees.)"""
    points = np.asarray(landmarks, dtype=np.float64)
    left, right = points[0, 0], points[16, 0]
    half = max((right - left) / 2, 1e-6)
    ratio = (points[30, 0] - (left + right) / 2) / half
    return float(np.degrees(np.arcsin(np.clip(ratio, -1.0, 1.0))))


def sharpness(image, landmarks: np.ndarray) -> float:
    """How sharp a face is: the variance of the Laplacian over the variance of the grey
    levels, on the face aligned to 96 px (OpenFace's template, whatever the encoder). Low
    for a blurred face (motion, focus) whether it is dark or bright: the ratio is
    contrast-free, and the fixed alignment makes faces of any size comparable."""
    crop = cv2.warpAffine(
        np.asarray(image), alignment_matrix(landmarks, 96), (96, 96), flags=cv2.INTER_LINEAR
    )
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    spread = float(grey.astype(np.float64).var())
    return float(cv2.Laplacian(grey, cv2.CV_64F).var()) / max(spread, 1e-6)


def mirrored(crop: np.ndarray) -> np.ndarray:
    """The crop flipped left-right (same shape and colour order), e.g. for flip-averaging."""
    return np.ascontiguousarray(np.asarray(crop)[:, ::-1])


def _named(image) -> str:
    return f"{image}: " if isinstance(image, (str, Path)) else ""


def _enlarged(bgr: np.ndarray, image, upscale_to: int | None) -> np.ndarray:
    """``bgr`` enlarged so its shorter side is ``upscale_to``; refuses images too small."""
    height, width = bgr.shape[:2]
    if min(height, width) < MIN_PHOTO_SIDE:
        raise FaceTooSmall(
            f"{_named(image)}{width}x{height} image is too small to hold a face "
            f"(the shorter side must be at least {MIN_PHOTO_SIDE} px). Use a larger photo."
        )
    if upscale_to and min(height, width) < upscale_to:
        factor = upscale_to / min(height, width)
        size = (round(width * factor), round(height * factor))
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_CUBIC)
    return bgr


def align_faces(
    image, detector, aligner: FaceAligner, upscale_to: int | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every face of ``image``: a list of ``(box, crop)``, in the detector's order.

    Args:
        image: a path or a BGR array (read by :func:`fr_utils.preprocess.load_image`).
        detector: ``image -> int (K, 4)`` boxes, e.g. :class:`DlibDetector` or
            :class:`fr_utils.faces.HaarDetector`.
        aligner: a :class:`FaceAligner`.
        upscale_to: when set, an image whose shorter side is below it is enlarged to it
            first (boxes are then in the enlarged image's pixels), and an image too
            small to hold a face raises :class:`FaceTooSmall`.

    Returns:
        ``[(int (4,) box x, y, w, h, uint8 (size, size, 3) BGR crop), ...]``; empty when
        there is no face.
    """
    bgr = load_image(image)
    if upscale_to:
        bgr = _enlarged(bgr, image, upscale_to)
    return [(box, aligner.align(bgr, box)) for box in detector(bgr)]


def face_crop_from_photo(
    image, detector=None, aligner: FaceAligner | None = None, upscale_small: bool = True
) -> tuple[np.ndarray, int]:
    """The aligned crop of an enrollment photo's face, and how many faces it shows.

    Every photo must show a detected face, small ones included: an image whose shorter
    side is below :data:`UPSCALE_TO` (320 px) is enlarged to it before detection (with
    ``upscale_small``). The detector's first face (the largest, by default) is used.
    ``detector`` ``None``: a :class:`DlibDetector` (what the weights were trained with);
    ``aligner`` ``None``: a :class:`FaceAligner` of 96 px.

    Returns:
        ``(uint8 (size, size, 3) BGR crop, n_faces)``.

    Raises:
        FaceTooSmall: the shorter side is below :data:`MIN_PHOTO_SIDE` (24 px).
        NoFaceFound: no face was detected (the message names the file).
        fr_utils.preprocess.ImageError: the file cannot be read as an image.
    """
    detector = DlibDetector() if detector is None else detector
    aligner = FaceAligner() if aligner is None else aligner
    original = load_image(image)
    bgr = _enlarged(original, image, UPSCALE_TO if upscale_small else None)
    boxes = detector(bgr)
    if len(boxes) == 0:
        height, width = original.shape[:2]
        raise NoFaceFound(
            f"{_named(image)}no face found ({width}x{height} image). "
            "Use a frontal, well-lit photo in which the face fills a good part of the frame."
        )
    return aligner.align(bgr, boxes[0]), len(boxes)
