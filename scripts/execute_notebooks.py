"""Execute the solved notebooks and save them with tidy outputs: how the committed outputs are made.

    FACENET_SHARED=../shared FACENET_WEIGHTS=../shared/weights-aligned/nn4.small2.v1.h5 \
        .venv/bin/python scripts/execute_notebooks.py notebooks/*.ipynb

Each notebook runs in its own folder and prints its wall time. Tidying: TensorFlow's C++
start-up lines are dropped from stderr, and each tqdm widget's plain-text fallback is set to
its final state (nbclient saves it at 0 %). Afterwards, regenerate the student versions with
``scripts/make_student_notebooks.py`` (they do not depend on the outputs, only on the sources).
"""

import html
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOISE = re.compile(
    r"absl::InitializeLog|cudart_stub|cpu_feature_guard|To enable the following "
    r"instructions|oneDNN custom operations|rebuild TensorFlow|cuInit"
)
WIDGET = "application/vnd.jupyter.widget-view+json"


def _widget_text(state, model_id):
    model = state.get(model_id, {})
    values = model.get("state", {})
    if model.get("model_name") == "HBoxModel":
        parts = [
            _widget_text(state, child.replace("IPY_MODEL_", ""))
            for child in values.get("children", [])
        ]
        return " ".join(p for p in parts if p)
    if model.get("model_name") == "FloatProgressModel":
        filled = round(10 * values.get("value", 0) / values["max"]) if values.get("max") else 0
        return "|" + "█" * filled + " " * (10 - filled) + "|"
    return html.unescape(values.get("value", "")).replace("\u2007", " ").strip()


def _tidy(nb):
    state = (
        nb.metadata.get("widgets", {})
        .get("application/vnd.jupyter.widget-state+json", {})
        .get("state", {})
    )
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.outputs:
            if output.output_type == "stream" and output.name == "stderr":
                output.text = "".join(
                    line for line in output.text.splitlines(True) if not NOISE.search(line)
                )
                if not output.text.strip():
                    continue
            if output.output_type == "display_data" and WIDGET in output.data:
                final = _widget_text(state, output.data[WIDGET]["model_id"])
                if final:
                    output.data["text/plain"] = final
            kept.append(output)
        cell.outputs = kept


def main(paths):
    for path in map(Path, paths):
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        NotebookClient(
            nb,
            timeout=900,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent.resolve())}},
        ).execute()
        print(f"{path}: {time.perf_counter() - start:.1f} s")
        _tidy(nb)
        nbformat.write(nb, path)


if __name__ == "__main__":
    main(sys.argv[1:])
