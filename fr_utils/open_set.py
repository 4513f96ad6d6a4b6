"""Open-set identification: thresholds that know how many people are enrolled.

A greeter does not verify one claimed identity; it compares each visitor with *everyone*
enrolled and greets the nearest when close enough. A threshold chosen for a 1 % false
accept rate per comparison (what ``facenet-tune`` and THRESHOLDS.json give) lets a stranger
match *someone* far more often: with ``N`` comparisons the chance is about

    FPIR(t, N) = 1 - (1 - F(t)) ** N

where ``F(t)`` is the chance that a stranger's face lies within ``t`` of one enrolled photo
(the impostor distance distribution) and FPIR is NIST's "false positive identification
rate": the share of strangers' visits greeted by some enrolled name. Comparisons are not
quite independent (a "typical" face is near many), so this over-estimates FPIR a little:
the thresholds it gives are on the strict side (measured: ``bench/bench_open_set.py``).

:class:`ImpostorCurve` holds ``F`` for one encoder, measured on people the model never saw,
and answers both questions: how often a stranger is greeted at threshold ``t`` with ``N``
enrolled (:meth:`~ImpostorCurve.fpir`), and which threshold keeps that at a target
(:meth:`~ImpostorCurve.threshold_for`). :func:`find_curve` finds the curve for an encoder:
a file given explicitly (``facenet-tune --open-set`` measures one on your own photos),
``OPEN_SET.json`` beside the weights, or the curves shipped in ``fr_utils/data/open_set/``
(measured on LFW; how is written in each file).

Pure numpy; distances are plain L2 between unit vectors (0 to 2), lower is stricter.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

GRID = np.round(np.arange(0.0, 2.0 + 1e-9, 0.005), 3)  # thresholds the curve is kept at
FILE_NAME = "OPEN_SET.json"  # beside the weights, like THRESHOLDS.json
FORMAT = "facenet-open-set/1"
PACKAGED = Path(__file__).resolve().parent / "data" / "open_set"
DEFAULT_FPIR = 0.01


class OpenSetError(ValueError):
    """An impostor-curve file that cannot be used (the message names it)."""


@dataclass(frozen=True)
class ImpostorCurve:
    """``F(t)``: the share of comparisons between a stranger and one enrolled photo at plain
    L2 distance ``<= t``, for one encoder.

    Attributes:
        thresholds: increasing distances (normally :data:`GRID`).
        far: ``F`` at each threshold (non-decreasing, in [0, 1]).
        comparisons: how many impostor comparisons it was measured from (the smallest ``F``
            it can tell from zero is about ``1 / comparisons``).
        model: the encoder it belongs to (``encoder.model_id``: the model, not the runtime).
        probe: what a stranger's side was, e.g. ``"mean of 3 photos"``.
        notes: how it was measured (data, people, command).
    """

    thresholds: np.ndarray
    far: np.ndarray
    comparisons: int
    model: str
    probe: str = "one photo"
    notes: dict = field(default_factory=dict)
    source: str = ""  # the file it was read from ("" when made in memory)

    def __post_init__(self):
        t, f = np.asarray(self.thresholds, float), np.asarray(self.far, float)
        if t.ndim != 1 or t.shape != f.shape or len(t) < 2 or np.any(np.diff(t) <= 0):
            raise OpenSetError(f"{self._where()}thresholds must increase and match far.")
        if np.any(np.diff(f) < 0) or f.min() < 0 or f.max() > 1:
            raise OpenSetError(f"{self._where()}far must be non-decreasing within [0, 1].")
        object.__setattr__(self, "thresholds", t)
        object.__setattr__(self, "far", f)

    def _where(self) -> str:
        return f"{self.source}: " if self.source else ""

    @classmethod
    def from_distances(cls, impostor, model: str, probe: str = "one photo", notes=None):
        """The curve of measured impostor distances (stranger vs one enrolled photo)."""
        impostor = np.sort(np.asarray(impostor, float).ravel())
        if len(impostor) == 0:
            raise OpenSetError("An impostor curve needs at least one impostor distance.")
        far = np.searchsorted(impostor, GRID, side="right") / len(impostor)
        return cls(GRID.copy(), far, len(impostor), model, probe, dict(notes or {}))

    def far_at(self, threshold: float) -> float:
        """``F(threshold)``: the per-comparison false-accept rate."""
        return float(np.interp(threshold, self.thresholds, self.far))

    def fpir(self, threshold: float, comparisons: int) -> float:
        """The share of strangers' visits that land within ``threshold`` of at least one of
        ``comparisons`` enrolled photos (people, for the person-mean rule)."""
        if comparisons <= 0:
            return 0.0
        return float(1.0 - (1.0 - self.far_at(threshold)) ** int(comparisons))

    def threshold_for(self, comparisons: int, fpir: float = DEFAULT_FPIR) -> float:
        """The largest threshold whose FPIR with ``comparisons`` enrolled photos stays at or
        under ``fpir`` (more people enrolled: a stricter threshold). Where the curve is
        flat at zero (too few impostors were measured to tell), the threshold is the
        largest one measured at zero: never beyond what the data can support."""
        if not 0.0 < fpir < 1.0:
            raise ValueError(f"fpir must be in (0, 1). Received: fpir={fpir}")
        comparisons = max(1, int(comparisons))
        per_comparison = 1.0 - (1.0 - fpir) ** (1.0 / comparisons)
        allowed = self.far <= per_comparison
        if not allowed[0]:
            return float(self.thresholds[0])
        last = int(np.nonzero(allowed)[0][-1])
        if last + 1 == len(self.far):
            return float(self.thresholds[-1])
        lo, hi = self.far[last], self.far[last + 1]
        t0, t1 = self.thresholds[last], self.thresholds[last + 1]
        if hi <= lo or lo == 0.0:
            return float(t0)
        return float(t0 + (t1 - t0) * (per_comparison - lo) / (hi - lo))

    def to_json(self, path: str | os.PathLike) -> Path:
        """Write the curve (atomically)."""
        from fr_utils._files import atomic_path

        data = {
            "format": FORMAT,
            "model": self.model,
            "probe": self.probe,
            "comparisons": int(self.comparisons),
            "metric": "plain L2 between unit-length embeddings",
            "notes": self.notes,
            "thresholds": [round(float(t), 4) for t in self.thresholds],
            "far": [float(f"{f:.6g}") for f in self.far],
        }
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        return Path(path)

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> ImpostorCurve:
        from fr_utils._files import JsonFileError, read_json_object

        try:
            data = read_json_object(path, "impostor-curve file", missing_ok=False)
        except JsonFileError as err:
            raise OpenSetError(str(err)) from None
        if data.get("format") != FORMAT:
            raise OpenSetError(
                f"{path}: not an impostor-curve file (format {data.get('format')!r}, "
                f"expected {FORMAT!r}); write one with facenet-tune --open-set."
            )
        try:
            return cls(
                np.asarray(data["thresholds"], float),
                np.asarray(data["far"], float),
                int(data["comparisons"]),
                str(data["model"]),
                str(data.get("probe", "one photo")),
                dict(data.get("notes", {})),
                str(path),
            )
        except (KeyError, TypeError, ValueError) as err:
            if isinstance(err, OpenSetError):
                raise
            raise OpenSetError(f"{path}: damaged impostor-curve file ({err}).") from None


def packaged_curve_path(model: str) -> Path:
    """Where the curve for ``model`` is shipped with the package (it may not exist)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model)
    return PACKAGED / f"{safe}.json"


def find_curve(model: str, explicit=None, weights=None) -> ImpostorCurve | None:
    """The impostor curve for encoder ``model`` (``encoder.model_id``), or ``None``.

    Looked up in order: ``explicit`` (a file; an error if it is unusable or belongs to
    another model), ``OPEN_SET.json`` beside ``weights`` (a CSV folder or an HDF5 file,
    used only when its model matches), then the curve shipped for ``model``."""
    if explicit is not None:
        curve = ImpostorCurve.from_json(explicit)
        if curve.model != model:
            raise OpenSetError(
                f"{explicit}: measured for {curve.model}, not for the encoder in use "
                f"({model}); measure one with facenet-tune --open-set, or remove the setting."
            )
        return curve
    candidates = []
    if weights is not None:
        path = Path(weights)
        if path.is_dir():
            candidates.append(path / FILE_NAME)
        candidates.append(path.parent / FILE_NAME)
    candidates.append(packaged_curve_path(model))
    for candidate in candidates:
        if candidate.is_file():
            curve = ImpostorCurve.from_json(candidate)
            if curve.model == model:
                return curve
    return None
