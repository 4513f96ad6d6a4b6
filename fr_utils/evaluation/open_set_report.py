"""``facenet-tune --open-set``: how many people can be enrolled before strangers are greeted,
and the impostor curve the greeter's threshold comes from, measured on a folder of photos
(or LFW).

:func:`tune_open_set` encodes the photos (cached, the greeter's pipeline), simulates
galleries of 10, 50, 200 and 1,000 people (:mod:`fr_utils.evaluation.open_set`), prints
FNIR at FPIR 1 % and 0.1 % per gallery size and rule, and writes into the output folder:

* ``report.md`` and ``report.json``: the tables, what the draws held, the curve's thresholds;
* ``fnir_vs_gallery.png``: FNIR against gallery size, one line per rule and FPIR target;
* ``OPEN_SET.json``: the impostor curve (:class:`fr_utils.open_set.ImpostorCurve`) the
  greeter sets its threshold from; ``write_config_to`` points the greeter's config at it
  (key ``open_set``).
"""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from fr_utils._files import read_json_object, update_json_object
from fr_utils.encoding import as_encoder
from fr_utils.evaluation import lfw
from fr_utils.evaluation import open_set as osi
from fr_utils.evaluation.datasets import load_dataset
from fr_utils.evaluation.report import default_report_dir, save_figure, write_text
from fr_utils.open_set import FILE_NAME
from fr_utils.photos import encode_photos

CONFIG_KEY = "open_set"  # the greeter's config key naming its impostor-curve file
CURVE_SIZES = (10, 50, 200, 1000)  # enrolled photos the curve's thresholds are listed for
READING = (
    "How to read it: N people are enrolled; each enrolled person with a photo to spare comes "
    "back once (a visit: the mean of their next 3 photos where they have them, else one), and "
    "so does each stranger. FPIR is the share of strangers' visits greeted by some enrolled "
    "name; FNIR the share of enrolled people's visits not greeted by their own name (missed, "
    "or greeted as someone else: the 'wrong' share). For each FPIR target the threshold is set "
    "on the strangers of the draw (FNIR at FPIR, as NIST reports it); the greeter sets its "
    "threshold from the impostor curve below instead, for the number of photos enrolled."
)


def encode_people(people: dict, encoder, lfw_protocol: bool, cache_dir=None, progress=True):
    """Encode every photo of ``people`` (``{name: [photos]}``) through the disk cache ->
    ``(Population, info)``. LFW photos are encoded as the LFW benchmark does (the face
    nearest the centre, else the centre box: :func:`fr_utils.evaluation.lfw.encode_lfw_photos`);
    a folder of your own as ``facenet-tune DATASET`` does (the largest face; photos without
    one are left out and listed in ``info``)."""
    paths = [p for photos in people.values() for p in photos]
    start = time.perf_counter()
    if lfw_protocol:
        found, fallback = lfw.encode_lfw_photos(paths, encoder, cache_dir, progress)
        encodings = {**found.encodings, **fallback.encodings}
        skipped = {**fallback.no_face, **found.unreadable, **fallback.unreadable}
        info = {
            "centre_box_fallback": len(found.no_face),
            "encoded_now": found.encoded + fallback.encoded,
        }
    else:
        found = encode_photos(paths, encoder, cache_dir=cache_dir, progress=progress)
        encodings = found.encodings
        skipped = {**found.no_face, **found.unreadable}
        info = {"encoded_now": found.encoded}
    info["encode_seconds"] = round(time.perf_counter() - start, 1)
    info["skipped_photos"] = {str(p): reason for p, reason in skipped.items()}
    return osi.Population.from_photos(people, encodings), info


# ----------------------------------------------------------------------------- tables, plot


def _pct(mean: float, std: float) -> str:
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def format_tables(result: osi.OpenSetResult) -> str:
    """One Markdown table per enrolment and FPIR target: FNIR % (mean ± std over the draws)
    per rule and gallery size, the wrong-person rate % in brackets."""
    blocks = []
    enrolments = sorted({c.enrolled_photos for c in result.cells})
    targets = sorted({c.target for c in result.cells}, reverse=True)
    rules = list(dict.fromkeys(c.rule for c in result.cells))
    for k in enrolments:
        for t in targets:
            head = [f"N = {n:,}" for n in result.sizes]
            lines = [
                f"FNIR % at FPIR {100 * t:g} %, {k} photo{'s' if k > 1 else ''} per enrolled "
                f"person (mean ± std over {result.draws} draws; wrong person % in brackets)",
                "",
                "| rule | " + " | ".join(head) + " |",
                "|---|" + "---:|" * len(head),
            ]
            for rule in rules:
                cells = []
                for n in result.sizes:
                    cell = result.cell(rule, n, k, t)
                    if not cell.resolved:
                        cells.append(f"– (needs {int(np.ceil(1 / t)):,} strangers)")
                        continue
                    fnir, wrong = cell.mean_std("fnir"), cell.mean_std("wrong")[0]
                    cells.append(f"{_pct(*fnir)} ({100 * wrong:.1f})")
                label = osi.RULE_LABELS[rule].replace(
                    "ratio margin", f"d1/d2 <= {result.max_ratio:g}"
                )
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
            blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def format_counts(result: osi.OpenSetResult) -> str:
    """What each simulated gallery held, on average over the draws."""
    lines = [
        f"{result.n_strangers:,} strangers per draw (each visits once); per gallery, on average:",
        "",
        "| N | photos each | gallery photos | enrolled people's visits | of them "
        f"{osi.VISIT_PHOTOS}-photo | strangers' {osi.VISIT_PHOTOS}-photo visits |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for (n, k), c in sorted(result.counts.items()):
        values = list(c.values())
        lines.append(
            f"| {n:,} | {k} | {values[3]:,.0f} | {values[0]:,.0f} | {values[1]:,.0f} | "
            f"{values[2]:,.0f} |"
        )
    for n, why in sorted(result.skipped.items()):
        lines.append(f"\nGallery of {n:,} not measured: {why}.")
    return "\n".join(lines)


def format_curve(curve) -> str:
    """The curve's thresholds for 10 ... 1,000 enrolled photos at FPIR 1 % and 0.1 %."""
    sizes = CURVE_SIZES
    lines = [
        f"Impostor curve ({curve.comparisons:,} comparisons: {curve.probe}); the greeter's "
        "threshold for N enrolled photos (plain L2, lower is stricter):",
        "",
        "| FPIR | " + " | ".join(f"N = {n:,}" for n in sizes) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    for t in osi.TARGETS:
        cells = []
        for n in sizes:
            value = f"{curve.threshold_for(n, t):.3f}"
            if n > osi.largest_gallery(curve.comparisons, t):
                value += " *"
            cells.append(value)
        lines.append(f"| {100 * t:g} % | " + " | ".join(cells) + " |")
    if any("*" in line for line in lines[4:]):
        lines.append(
            f"\n\\* indicative: the threshold rests on fewer than {osi.RESOLVED_BY} measured "
            "impostor comparisons (measure on more people to resolve it)"
        )
    return "\n".join(lines)


def plot_fnir(result: osi.OpenSetResult, title: str = "") -> Figure:
    """FNIR against gallery size (log), one line per rule (colour) and FPIR target (style),
    one panel per number of photos per enrolled person; error bars: std over the draws."""
    enrolments = sorted({c.enrolled_photos for c in result.cells})
    fig = Figure(figsize=(6.0 * len(enrolments), 5.6), dpi=100, layout="constrained")
    axes = fig.subplots(1, len(enrolments), squeeze=False)[0]
    colours = dict(zip(osi.RULES, ("tab:grey", "tab:orange", "tab:blue", "tab:green", "tab:red")))
    styles = {osi.TARGETS[0]: "-", osi.TARGETS[1]: "--"}
    for ax, k in zip(axes, enrolments):
        for rule in dict.fromkeys(c.rule for c in result.cells):
            for t in sorted({c.target for c in result.cells}, reverse=True):
                cells = [result.cell(rule, n, k, t) for n in result.sizes]
                keep = [c for c in cells if c.resolved]
                if not keep:
                    continue
                mean_std = np.array([c.mean_std("fnir") for c in keep]) * 100
                ax.errorbar(
                    [c.n_gallery for c in keep],
                    mean_std[:, 0],
                    yerr=mean_std[:, 1],
                    color=colours.get(rule),
                    linestyle=styles.get(t, ":"),
                    marker="o",
                    markersize=4,
                    capsize=3,
                    label=f"{osi.RULE_LABELS[rule]}, FPIR {100 * t:g} %",
                )
        ax.set_xscale("log")
        ax.set_xticks(result.sizes, [f"{n:,}" for n in result.sizes])
        ax.minorticks_off()
        ax.set_ylim(0, 100)
        ax.set_xlabel("people enrolled (gallery size, log scale)")
        ax.set_ylabel("FNIR %: enrolled visitors not greeted by name")
        ax.set_title(f"{k} photo{'s' if k > 1 else ''} per person")
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


# ----------------------------------------------------------------------------- the run


def curve_notes(data: str, encoder, lfw_protocol: bool, command: str, date: str) -> dict:
    """What an impostor curve's notes say beyond what it was measured on
    (:func:`fr_utils.evaluation.open_set.measure_curve` adds the people and comparisons)."""
    face = (
        "the face nearest the centre (no face found: LFW's centre box)"
        if lfw_protocol
        else "the largest face (photos without one left out)"
    )
    flip = "flip-average" if encoder.flip else "single crop"
    return {
        "data": data,
        "encoder": f"{encoder.model_id} (runtime {encoder.runtime}, {flip})",
        "pipeline": f"photos under 320 px enlarged to it, dlib HOG detector: {face}, 68 "
        "landmarks, the encoder's own alignment (fr_utils.photos.encode_photos)",
        "command": command,
        "date": date,
    }


def _finite(value):
    """JSON has no infinity: a threshold of ``inf`` (the margin alone kept strangers out)
    or an undefined std is written as ``null``."""
    return value if not isinstance(value, float) or np.isfinite(value) else None


def _cells_json(result):
    return [
        {
            "rule": c.rule,
            "n_gallery": c.n_gallery,
            "enrolled_photos": c.enrolled_photos,
            "fpir_target": c.target,
            "resolved": c.resolved,
            **{f"{w}_{s}": _finite(v) for w in ("fnir", "wrong", "fpir", "threshold")
               for s, v in zip(("mean", "std"), c.mean_std(w))},
            "draws": [{k: _finite(v) for k, v in vars(o).items()} for o in c.outcomes],
        }
        for c in result.cells
    ]  # fmt: skip


def open_set_people(folder, lfw_protocol: bool = False) -> tuple[dict, str]:
    """``({name: [photos]}, what they are)``: with ``lfw_protocol`` the people of an LFW
    folder's View 2 folds 6-10 (:func:`fr_utils.evaluation.lfw.unseen_people`), else the
    ``<name>/*.jpg`` folders of ``folder`` (:func:`fr_utils.evaluation.datasets.load_dataset`)."""
    folder = Path(folder)
    if lfw_protocol:
        return lfw.unseen_people(folder), (
            f"LFW View 2 folds 6-10 people ({folder}): never seen by the re-learned FaceNet tensors"
        )
    return osi.dataset_people(load_dataset(folder)), str(folder)


def tune_open_set(
    people: dict,
    encoder,
    lfw_protocol: bool = False,
    data: str = "",
    cache_dir=None,
    out=None,
    draws: int = osi.DRAWS,
    seed: int = 0,
    write_config_to=None,
    command: str = "",
    progress: bool = True,
    echo=print,
) -> dict:
    """The whole ``facenet-tune --open-set`` run on ``people`` -> the report dict.

    Args:
        people: ``{name: [photos]}`` (:func:`open_set_people`), each person's photos in
            enrolment order; ``lfw_protocol``: they are LFW photos (encoded as the LFW
            benchmark does); ``data``: what they are, for the report and the curve's notes.
        encoder: the greeter's encoder (``make_encoder(..., kind=...)``): its ``model_id``
            keys the curve.
        write_config_to: the greeter's JSON config: ``open_set`` is set to the curve's path
            (other keys kept).
        command: the command line, written into the curve's notes and the report.
        out: the folder for the report, the plot and ``OPEN_SET.json`` (``None``:
            :func:`fr_utils.evaluation.report.default_report_dir`).

    Raises:
        fr_utils.evaluation.open_set.DataTooSmall: the photos cannot support a result (it
            says why); nothing is written then.
    """
    encoder = as_encoder(encoder)
    out = default_report_dir() if out is None else out
    osi.check_counts([len(photos) for photos in people.values()])  # before encoding anything
    population, info = encode_people(people, encoder, lfw_protocol, cache_dir, progress)
    echo(f"{data}: {population.describe()}; encoded {info['encoded_now']:,} now")
    for reason in info["skipped_photos"].values():
        echo(f"skipped: {reason}")
    start = time.perf_counter()
    result = osi.run(population, draws=draws, seed=seed)
    date = datetime.datetime.now().isoformat(timespec="seconds")
    curve = osi.measure_curve(
        population, encoder.model_id, curve_notes(data, encoder, lfw_protocol, command, date)
    )
    seconds = time.perf_counter() - start
    for n, why in result.skipped.items():
        echo(f"note: gallery of {n:,} not measured: {why}")
    tables = format_tables(result)
    counts = format_counts(result)
    curve_text = format_curve(curve)
    echo(f"\n{tables}\n\n{counts}\n\n{curve_text}\n")
    out = Path(out)
    curve_path = curve.to_json(out / FILE_NAME)
    where = "LFW folds 6-10" if lfw_protocol else Path(data).name
    title = f"{where}: {encoder.model_id}"
    save_figure(plot_fnir(result, title), out / "fnir_vs_gallery.png")
    report = {
        "data": data,
        "date": date,
        "command": command,
        "model": encoder.model_id,
        "runtime": encoder.runtime,
        "flip": encoder.flip,
        "population": population.describe(),
        **info,
        "strangers_per_draw": result.n_strangers,
        "draws": result.draws,
        "seed": seed,
        "max_ratio": result.max_ratio,
        "visit_photos": osi.VISIT_PHOTOS,
        "sizes": list(result.sizes),
        "skipped_sizes": {str(n): why for n, why in result.skipped.items()},
        "counts": [
            {"n_gallery": n, "enrolled_photos": k, **c} for (n, k), c in result.counts.items()
        ],
        "cells": _cells_json(result),
        "curve": {
            "file": str(curve_path),
            "comparisons": curve.comparisons,
            "thresholds": {
                f"fpir{t:g}_N{n}": curve.threshold_for(n, t)
                for t in osi.TARGETS
                for n in CURVE_SIZES
            },
        },
        "simulate_seconds": round(seconds, 1),
    }
    write_text(out / "report.json", json.dumps(report, indent=2, allow_nan=False) + "\n")
    write_text(
        out / "report.md",
        f"# Open set: {title}\n\n{data}: {population.describe()}.\n\n"
        f"Command: `{command}`\n\n{READING}\n\n{tables}\n\n{counts}\n\n{curve_text}\n\n"
        "![FNIR against gallery size](fnir_vs_gallery.png)\n",
    )
    echo(f"wrote {out}/report.md, report.json, fnir_vs_gallery.png, {FILE_NAME}")
    if write_config_to is not None:
        config = read_json_object(write_config_to, "config file")
        update_json_object(write_config_to, {CONFIG_KEY: str(curve_path.resolve())}, "config file")
        echo(f"wrote {CONFIG_KEY} = {curve_path.resolve()} to {write_config_to}")
        if config.get("threshold") is not None:
            echo(
                f"note: {write_config_to} also sets threshold {config['threshold']}, which wins "
                f"over the curve; remove it to let the threshold follow the gallery's size"
            )
    return report
