"""Ronchi et al.'s Table 2 on Human3.6M (``python -m experiments.ronchi_table``)."""

from __future__ import annotations

import json
import math
import re
import shutil
import time
from pathlib import Path
from typing import Any

from wildpose.api import Lifter
from wildpose.datasets.h36m import TEST_SUBJECTS, TRAIN_SUBJECTS, default_data_dir, load_h36m
from wildpose.evaluation import evaluate_h36m
from wildpose.methods.ronchi import RonchiConfig, train_ronchi
from wildpose.settings import flatten_options
from wildpose.zoo import read_model_info

from ._common import fmt, json_default, main, markdown_table, select_rows

__all__ = ["EXPERIMENT_ROWS", "SHIPPED", "run_ronchi_experiment"]

#: The rows of the experiment (the paper's Table 2) and their settings; ``epochs`` per input
#: kind.  Budgets: every row of one input kind sees the same number of training samples --
#: about 4.2M for ground-truth 2D (the shipped models, ~7 min each at ~10k samples/s) and 2.8M
#: for stacked-hourglass 2D -- so that 10 trainings and 10 full evaluations (~1 min each) fit
#: in 90 minutes.  One label per frame needs many frames, so 1-pair rows see every frame
#: (stride 1, a new random pair for each frame and camera, so near-identical neighbouring
#: frames carry different pairs); rows with a full label per frame (3D, or all 136 pairs) see
#: every 5th frame 5x as often.  Relative rows gain far more from longer training than the
#: supervised one (short runs, P2 on every 20th S9/S11 frame: 1 pair + crowd noise 49 mm
EXPERIMENT_ROWS: dict[str, dict[str, Any]] = {
    "3D-supervised": dict(supervision="3d", w_reproj=0.0, w_limb=0.0, w_scale=0.0, dropout=0.1,
                          stride=5, epochs={"gt": 15, "sh": 10}),
    "relative 1 pair": dict(pairs_per_sample="1", stride=1, epochs={"gt": 3, "sh": 2}),
    "relative all pairs": dict(pairs_per_sample="all", stride=5, epochs={"gt": 15, "sh": 10}),
    "relative 1 pair + crowd noise": dict(pairs_per_sample="1", label_noise="crowd", stride=1,
                                          epochs={"gt": 3, "sh": 2}),
    "relative tau=100mm": dict(pairs_per_sample="1", tau_mm=100.0, stride=1,
                               epochs={"gt": 3, "sh": 2}),
}

#: Rows exported as shipped models (ground-truth 2D inputs).
SHIPPED = {"relative 1 pair + crowd noise": "ronchi-relative", "3D-supervised": "ronchi-supervised"}

_QUICK = dict(stride_factor=20, epochs=2, width=512, eval_stride=10)


def _slug(row: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", row.lower()).strip("-")


def run_ronchi_experiment(data_dir: str | Path, out_dir: str | Path,
                          inputs: tuple[str, ...] = ("gt", "sh"), quick: bool = False,
                          rows: tuple[str, ...] | None = None, device: str = "auto",
                          progress: bool = False, eval_stride: int | None = None,
                          subjects: tuple[int, ...] = TRAIN_SUBJECTS,
                          test_subjects: tuple[int, ...] = TEST_SUBJECTS,
                          overrides: dict[str, Any] | None = None,
                          seed: int = 0) -> dict[str, Any]:
    """Ronchi et al.'s Table 2 on Human3.6M: P2, N-MPJPE and per-action P2 of each supervision
    row, for ground-truth 2D (17 joints) and stacked-hourglass (16 joints) inputs.

    Each (inputs, row) trains in ``out_dir/<inputs>/<row>/`` (resumable: re-running skips
    finished rows and continues an interrupted one), then is scored on every frame of
    ``test_subjects`` (or every ``eval_stride``-th).  Writes ``out_dir/ronchi.md`` and
    ``out_dir/ronchi.json``, and copies the models to ship to
    ``out_dir/models/ronchi-relative.safetensors`` (1 pair, crowd noise, ground-truth 2D) and
    ``ronchi-supervised.safetensors`` (3D-supervised, ground-truth 2D).

    Args:
        quick: every 20th frame of each row's data, 2 epochs, width 512, every 10th test
            frame: a few minutes, for checking the pipeline (not the numbers).
        rows: a subset of :data:`EXPERIMENT_ROWS` (default all, in order).
        overrides: :class:`RonchiConfig` fields applied to every row (after quick).
    Returns:
        the JSON-serializable results (also written to ``ronchi.json``).
    """
    t_all = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = tuple(r for r, _ in select_rows(list(EXPERIMENT_ROWS.items()), rows or None))
    ev_stride = eval_stride or (_QUICK["eval_stride"] if quick else 1)
    results: dict[str, Any] = {"experiment": "ronchi", "rows": list(rows), "inputs": list(inputs), "quick": quick,
                               "eval_stride": ev_stride, "test_subjects": list(test_subjects),
                               "results": {}}
    for kind in inputs:
        plans = {}
        for row in rows:
            opts = dict(EXPERIMENT_ROWS[row])
            opts["epochs"] = opts["epochs"][kind]
            if quick:
                opts["stride"] = opts["stride"] * _QUICK["stride_factor"]
                opts["epochs"] = _QUICK["epochs"]
                opts["width"] = _QUICK["width"]
            opts.update(overrides or {})
            name = SHIPPED.get(row) if kind == "gt" else None
            plans[row] = RonchiConfig.from_dict({
                "data_dir": str(data_dir), "out_dir": str(out / kind / _slug(row)),
                "inputs": kind, "subjects": tuple(subjects), "device": device, "seed": seed,
                "name": name or f"ronchi-{kind}-{_slug(row)}", **opts})
        min_stride = math.gcd(*[p.stride for p in plans.values()])
        t0 = time.time()
        train_data = load_h36m(data_dir, subjects=subjects, stride=min_stride,
                               load_sh=kind == "sh")
        test_data = load_h36m(data_dir, subjects=test_subjects, stride=ev_stride,
                              load_sh=kind == "sh")
        print(f"[{kind}] loaded {len(train_data)} training and {len(test_data)} test samples "
              f"in {time.time() - t0:.0f}s", flush=True)
        res_kind: dict[str, Any] = {}
        for row, cfg in plans.items():
            run = Path(cfg.out_dir)
            model_file = run / "model.safetensors"
            t_row = time.time()
            done = model_file.is_file() and (run / "config.json").is_file() and (
                RonchiConfig.from_dict(json.loads((run / "config.json").read_text())).to_dict()
                == cfg.to_dict())
            if not done:
                if model_file.is_file():
                    model_file.unlink()
                print(f"[{kind}] training '{row}'", flush=True)
                train_ronchi(cfg, resume=True, progress=progress, data=train_data)
            eval_file = run / f"eval_{kind}_stride{ev_stride}.json"
            if eval_file.is_file() and eval_file.stat().st_mtime >= model_file.stat().st_mtime:
                ev = json.loads(eval_file.read_text())
            else:
                lifter = Lifter(str(model_file), device=device)
                ev = evaluate_h36m(lifter, inputs=kind, data=test_data)
                ev = {k: ev[k] for k in ("P1", "P2", "N-MPJPE", "num_samples", "per_action",
                                         "skipped")}
                eval_file.write_text(json.dumps(ev, indent=1))
            info_minutes = None
            try:
                info_minutes = read_model_info(model_file).get("train_minutes")
            except ValueError:
                pass
            res_kind[row] = {"P2": ev["P2"], "N-MPJPE": ev["N-MPJPE"], "P1": ev["P1"],
                             "per_action_P2": ev["per_action"]["metrics"]["P2"],
                             "num_samples": ev["num_samples"], "train_minutes": info_minutes,
                             "model": str(model_file), "config": flatten_options(cfg.to_dict())}
            print(f"[{kind}] {row}: P2 {ev['P2']:.1f} mm, N-MPJPE {ev['N-MPJPE']:.1f} mm "
                  f"({time.time() - t_row:.0f}s)", flush=True)
            if kind == "gt" and row in SHIPPED:
                dst = out / "models" / f"{SHIPPED[row]}.safetensors"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(model_file, dst)
        results["results"][kind] = res_kind
        del train_data, test_data
    gt = results["results"].get("gt", {})
    if "relative 1 pair + crowd noise" in gt and "3D-supervised" in gt:
        results["ratio_relative_to_supervised_P2"] = round(
            gt["relative 1 pair + crowd noise"]["P2"] / gt["3D-supervised"]["P2"], 3)
    results["total_minutes"] = round((time.time() - t_all) / 60, 1)
    (out / "ronchi.json").write_text(json.dumps(results, indent=1, default=json_default))
    (out / "ronchi.md").write_text(_markdown(results))
    return results


def _markdown(results: dict[str, Any]) -> str:
    kinds = results["inputs"]
    names = {"gt": "GT 2D", "sh": "SH 2D"}
    head = ["Supervision"] + [f"{m} ({names.get(k, k)})" for k in kinds for m in ("P2", "N-MPJPE")]
    frames = ("every frame" if results["eval_stride"] == 1
              else f"one frame in {results['eval_stride']}")
    rows = []
    for row in results["rows"]:
        cells = [row]
        for k in kinds:
            r = results["results"].get(k, {}).get(row, {})
            cells += [fmt(r.get("P2")), fmt(r.get("N-MPJPE"))]
        rows.append(cells)
    lines = ["## Ronchi et al. 2018: 3D pose from relative depth labels", "",
             f"Human3.6M, subjects {results['test_subjects']}, {frames} of all cameras; mm, "
             f"P2 = Procrustes-aligned MPJPE (the paper's metric), "
             f"N-MPJPE = MPJPE after the optimal scale."
             + (" QUICK run: pipeline check, not results." if results["quick"] else ""), "",
             *markdown_table(head, rows)]
    if "ratio_relative_to_supervised_P2" in results:
        lines += ["", f"ronchi-relative / ronchi-supervised P2 (GT 2D): "
                      f"{results['ratio_relative_to_supervised_P2']:.2f}"]
    for k in kinds:
        res = results["results"].get(k, {})
        if not res:
            continue
        acts = [a for a in next(iter(res.values()))["per_action_P2"] if a != "Average"]
        per_action = [[row] + [fmt(res[row]["per_action_P2"].get(a)) for a in acts + ["Average"]]
                      for row in results["rows"] if row in res]
        lines += ["", f"### Per-action P2 (mm), {names.get(k, k)} inputs", "",
                  *markdown_table(["Supervision", *acts, "Average"], per_action)]
    lines += ["", f"Total time: {results['total_minutes']} min."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main(lambda data_dir, out_dir, **kw: run_ronchi_experiment(
        data_dir or default_data_dir(), out_dir, **kw), None, "runs/ronchi"))
