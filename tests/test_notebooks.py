"""Execute every student notebook top to bottom, headless, as CI does.

Each runs in a kernel of the interpreter running the tests (``python3``: the
venv's ipykernel), with the notebooks folder as working directory, data and
weights from the same settings as the library. The notebook is executed in
memory, so the committed outputs are never rewritten.
"""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CELL_TIMEOUT = 600  # seconds per cell; each notebook takes ~1-4 minutes on 2 cores

# A few lines each notebook must print: the course's numbers and the results sections.
EXPECTED = {
    "01_face_recognition.ipynb": ["Total Params: 3,743,280", "loss = 528.143",
                                  "It's younes, welcome home!", "It's not kian, please go away",
                                  "it's younes, the distance is"],
    "02_threshold_tuning.ipynb": ["RECOMMENDED threshold", '"threshold"'],
    "03_triplet_training.ipynb": ["AUC, held-out people", "trunk features:"],
}


def _text_outputs(nb):
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                parts.append(output.get("text", ""))
            elif "data" in output:
                parts.append(output["data"].get("text/plain", ""))
    return "\n".join(parts)


def test_every_notebook_is_tested():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(EXPECTED)


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs_top_to_bottom(name, shared_dir, weights_path, tmp_path, monkeypatch):
    monkeypatch.setenv("FACENET_SHARED", str(shared_dir))
    monkeypatch.setenv("FACENET_WEIGHTS", str(weights_path))
    monkeypatch.setenv("FACENET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FACENET_LONG_RUN", "0")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    for cell in nb.cells:  # start from a blank notebook: no stale outputs can pass the checks
        if cell.cell_type == "code":
            cell.outputs = []
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    text = _text_outputs(nb)
    missing = [line for line in EXPECTED[name] if line not in text]
    assert not missing, f"{name} did not print {missing}"
