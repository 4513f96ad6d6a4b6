"""fr_utils.litert_export: the export to LiteRT (float32 and int8, a manifest with the weights'
fingerprint, agreement with Keras), its calibration faces, and its refusals.

The export (one per session, ~64 aligned LFW faces: ``exported`` in tests/conftest.py) takes
30-70 s on two cores: the tests that need it are marked ``slow``.
"""

import json
import shutil
import textwrap

import numpy as np
import pytest

from fr_utils.litert import MANIFEST_NAME, MODEL_FILES, LiteRTError, TensorFlowMissing
from fr_utils.litert_export import calibration_faces, export_litert
from fr_utils.weights import weights_fingerprint
from tests.helpers.processes import run_python


@pytest.mark.slow
def test_export_writes_both_models_and_a_manifest(exported, weights_path, calibration):
    folder, manifest = exported
    assert json.loads((folder / MANIFEST_NAME).read_text()) == manifest
    assert manifest["weights_fingerprint"] == weights_fingerprint(weights_path)
    assert manifest["aligner"] == calibration.aligner
    assert manifest["input"]["shape"] == [-1, 3, 96, 96]
    assert manifest["calibration"]["faces"] == 64
    assert manifest["tensorflow_version"]
    for quantization, name in MODEL_FILES.items():
        entry = manifest["models"][quantization]
        data = (folder / name).read_bytes()
        assert entry["file"] == name and entry["bytes"] == len(data)
        import hashlib

        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        agreement = entry["agreement_with_keras"]
        assert agreement["faces"] == 64
        assert 0 <= agreement["mean"] <= agreement["p99"] <= agreement["max"]
    assert manifest["models"]["int8"]["bytes"] < manifest["models"]["float32"]["bytes"] / 3
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary left


def test_export_without_tensorflow_says_so(tmp_path):
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["tensorflow"] = None  # as if not installed: importing it raises
        import numpy as np
        from fr_utils.litert import TensorFlowMissing
        from fr_utils.litert_export import export_litert
        try:
            export_litert(None, {str(tmp_path)!r}, np.zeros((16, 3, 96, 96), np.float32),
                          "abc", "haar")
        except TensorFlowMissing as err:
            assert isinstance(err, ValueError)
            print("refused:", err)
        """
    )
    done = run_python("-c", code)
    assert done.returncode == 0, done.stderr
    assert "refused:" in done.stdout and "needs TensorFlow" in done.stdout
    assert not list(tmp_path.iterdir())
    assert TensorFlowMissing.__mro__[1] is LiteRTError


def test_calibration_skips_bad_photos(course_dir, tmp_path):
    shutil.copy(min(course_dir.glob("*.jpg")), tmp_path / "face.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    (tmp_path / "blank.png").write_bytes(
        __import__("cv2").imencode(".png", np.zeros((200, 200, 3), np.uint8))[1].tobytes()
    )
    result = calibration_faces(tmp_path, limit=10)
    assert result.faces.shape == (1, 3, 96, 96) and result.faces.dtype == np.float32
    assert result.paths == [tmp_path / "face.jpg"]
    assert set(result.skipped) == {tmp_path / "broken.jpg", tmp_path / "blank.png"}
    assert result.aligner
    with pytest.raises(ValueError, match="not a folder"):
        calibration_faces(tmp_path / "missing")


def test_bad_arguments_raise_value_error(tmp_path):
    with pytest.raises(ValueError, match="calibration faces"):
        export_litert(None, tmp_path, np.zeros((3, 3, 96, 96), np.float32), "abc", "haar")
    with pytest.raises(ValueError, match="shape"):
        export_litert(None, tmp_path, np.zeros((20, 96, 96, 3), np.float32), "abc", "haar")
    assert not list(tmp_path.iterdir())
