"""The paper's transfer experiment on Human3.6M (``python -m experiments.zhou_transfer``)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from wildpose.datasets.h36m import TEST_SUBJECTS, H36MData, default_data_dir, load_h36m
from wildpose.evaluation import evaluate_h36m
from wildpose.methods.zhou.config import ZhouConfig
from wildpose.methods.zhou.data import prepare_zhou_data
from wildpose.methods.zhou.train import ZhouLifter, train_zhou
from wildpose.metrics import bone_symmetry_error
from wildpose.settings import flatten_options
from wildpose.skeleton import SYMMETRIC_BONES
from wildpose.zoo import load_model

from ._common import (check_experiment_options, fmt, main, markdown_table, run_row, select_rows,
                      write_results)

__all__ = ["TRANSFER_ROWS", "run_zhou_transfer"]


#: (row label, model name, ZhouConfig overrides) of the transfer experiment.  "lab" is S1 with
#: 3D, "wild" S5-S8 with 2D only; the upper bound has the 3D of all five subjects (each at the
#: wild rows' frame stride).  "3D+2D/w geo" is the paper's loss: L2 depth on 3D samples, L_geo
#: on 2D-only samples; "3D/w geo" has no 2D-only samples, so there L_geo is applied to the 3D
#: samples.
TRANSFER_ROWS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("3D/wo geo", "zhou-s1-3d", {"wild_subjects": (), "lambda_geo": 0.0}),
    ("3D/w geo", "zhou-s1-3d-geo", {"wild_subjects": (), "geo_on_3d": True}),
    ("3D+2D/wo geo", "zhou-s1-3d2d", {"lambda_geo": 0.0}),
    ("3D+2D/w geo", "zhou-s1-3d2d-geo", {}),
    ("full 3D (S1,5,6,7,8)", "zhou-full-3d", {"lab_subjects": (1, 5, 6, 7, 8),
                                              "wild_subjects": (), "lambda_geo": 0.0}),
)


#: Full-size settings: about 60 min of training and 5 min of loading and evaluation on this
#: 2-core CPU (about 10k samples/s at width 1024 with bf16); see run_zhou_transfer.
TRANSFER_SETTINGS: dict[str, Any] = {"epochs": 15, "stage1_epochs": 5, "lab_stride": 1,
                                     "wild_stride": 4, "eval_stride": 5, "width": 1024}


#: ``quick=True``: a smoke test of the whole pipeline in a few minutes.
TRANSFER_QUICK: dict[str, Any] = {"epochs": 3, "stage1_epochs": 1, "lab_stride": 10,
                                  "wild_stride": 40, "eval_stride": 25, "width": 256}


class _SubjectCache:
    """Loads each (subject, stride) once for all rows of the experiment."""

    def __init__(self, data_dir: str):
        self.data_dir = data_dir
        self.cache: dict[tuple[int, int, bool], H36MData] = {}

    def __call__(self, subjects: tuple, stride: int, load_sh: bool) -> H36MData:
        parts = []
        for s in subjects:
            if (s, stride, True) in self.cache:
                parts.append(self.cache[(s, stride, True)])
                continue
            if (s, stride, load_sh) not in self.cache:
                self.cache[(s, stride, load_sh)] = load_h36m(
                    self.data_dir, subjects=(s,), stride=stride, load_sh=load_sh)
            parts.append(self.cache[(s, stride, load_sh)])
        return _concat_h36m(parts, load_sh)


def _concat_h36m(parts: list[H36MData], with_sh: bool) -> H36MData:
    if len(parts) == 1 and (with_sh or parts[0].pose_2d_sh is None):
        return parts[0]
    cat = {k: np.concatenate([getattr(p, k) for p in parts])
           for k in ("pose_3d", "pose_2d", "subject", "action", "camera", "frame")}
    sh = np.concatenate([p.pose_2d_sh for p in parts]) if with_sh else None
    return H36MData(cat["pose_3d"], cat["pose_2d"], sh, cat["subject"], cat["action"],
                    cat["camera"], cat["frame"], parts[0].cameras,
                    [n for p in parts for n in p.skipped])


def _row_metrics(res: dict[str, Any]) -> dict[str, Any]:
    return {"P1": res["P1"], "P2": res["P2"], "bone_symmetry": res["bone_symmetry"],
            "num_samples": res["num_samples"]}


def _markdown(rows: list[dict], gt_sym: dict[str, float], settings: dict, checks: list[str]
              ) -> str:
    bones = list(SYMMETRIC_BONES) + ["mean"]
    lines = ["# Zhou et al. transfer experiment on Human3.6M", "",
             f"3D labels: S1 only (every {settings['lab_stride']}th frame); 2D-only: "
             f"S{', S'.join(str(s) for s in settings.get('wild_subjects', (5, 6, 7, 8)))} "
             f"(every {settings['wild_stride']}th frame, 3D withheld); full 3D: all five "
             f"subjects every {settings['wild_stride']}th frame; test: "
             f"S{', S'.join(str(s) for s in settings['test_subjects'])}, every "
             f"{settings['eval_stride']}th frame, all cameras. Depth lifter (Zhou et al.'s "
             f"[2D, depth] form, mm by the canonical total bone length), width "
             f"{settings['width']}, {settings['epochs']} epochs ({settings['stage1_epochs']} "
             f"without L_geo), lambda_geo {settings['lambda_geo']}. Errors in mm.", ""]
    for inp, title in (("gt", "ground-truth 2D input"), ("sh", "stacked-hourglass input")):
        cells = [[r["row"], fmt(r[inp]["P1"]), fmt(r[inp]["P2"]),
                  *(fmt(r[inp]["bone_symmetry"][b]) for b in bones)] for r in rows]
        cells.append(["ground truth", "-", "-", *(fmt(gt_sym[b]) for b in bones)])
        lines += [f"## {title}", "",
                  *markdown_table(["Row", "P1", "P2", *(f"sym {b}" for b in bones)], cells), ""]
    if checks:
        lines += ["## The paper's claims (ground-truth 2D input)", ""]
        lines += [f"- {c}" for c in checks]
        lines.append("")
    return "\n".join(lines)


def _claims(by_row: dict[str, dict]) -> tuple[list[str], dict[str, Any]]:
    need = ("3D/wo geo", "3D+2D/wo geo", "3D+2D/w geo")
    if not all(r in by_row for r in need):
        return [], {}
    base, nogeo, geo = (by_row[r]["gt"] for r in need)
    out = {
        "w_geo_beats_3d_on_P1": geo["P1"] < base["P1"],
        "w_geo_beats_3d_on_symmetry": geo["bone_symmetry"]["mean"]
        < base["bone_symmetry"]["mean"],
        "w_geo_beats_3d2d_wo_geo_on_symmetry": geo["bone_symmetry"]["mean"]
        < nogeo["bone_symmetry"]["mean"],
    }
    text = [
        f"3D+2D/w geo vs 3D/wo geo, P1: {geo['P1']:.1f} vs {base['P1']:.1f} mm "
        f"({'better' if out['w_geo_beats_3d_on_P1'] else 'NOT better'})",
        f"3D+2D/w geo vs 3D/wo geo, mean bone symmetry: {geo['bone_symmetry']['mean']:.1f} "
        f"vs {base['bone_symmetry']['mean']:.1f} mm "
        f"({'better' if out['w_geo_beats_3d_on_symmetry'] else 'NOT better'})",
        f"3D+2D/w geo vs 3D+2D/wo geo, mean bone symmetry: "
        f"{geo['bone_symmetry']['mean']:.1f} vs {nogeo['bone_symmetry']['mean']:.1f} mm "
        f"({'better' if out['w_geo_beats_3d2d_wo_geo_on_symmetry'] else 'NOT better'})",
    ]
    full = by_row.get("full 3D (S1,5,6,7,8)")
    if full is not None:
        gap = base["P1"] - full["gt"]["P1"]
        closed = (base["P1"] - geo["P1"]) / gap if gap > 0 else float("nan")
        out["P1_gap_closed"] = closed
        text.append(f"fraction of the P1 gap between 3D/wo geo and full 3D closed by "
                    f"3D+2D/w geo: {100 * closed:.0f}% (aim: at least 50%)")
    return text, out


def _evaluate(lifter: ZhouLifter, test: H36MData) -> dict[str, Any]:
    """The row's scores with ground-truth and stacked-hourglass 2D (the model file as
    shipped)."""
    return {inp: _row_metrics(evaluate_h36m(lifter, inputs=inp, data=test))
            for inp in ("gt", "sh")}


def _describe(res: dict[str, Any]) -> str:
    return (f"P1 {res['gt']['P1']:.1f} / {res['sh']['P1']:.1f} mm (gt / sh), "
            f"mean bone symmetry {res['gt']['bone_symmetry']['mean']:.1f} mm")


def run_zhou_transfer(data_dir: str | Path | None, out_dir: str | Path, epochs: int | None = None,
                      quick: bool = False, eval_stride: int | None = None,
                      rows: tuple[str, ...] | None = None,
                      test_subjects: tuple[int, ...] = TEST_SUBJECTS, progress: bool = True,
                      resume: bool = True, **overrides: Any) -> dict[str, Any]:
    """Zhou et al.'s transfer experiment on Human3.6M (``python -m experiments.zhou_transfer``).

    Five depth lifters (see :data:`TRANSFER_ROWS`) are trained -- 3D labels from S1 only,
    2D-only samples from S5-S8 -- and the full-3D upper bound on all five subjects, then
    evaluated on ``test_subjects`` with ground-truth 2D and stacked-hourglass inputs: P1, P2
    and the bone symmetry error per bone type (mm) of the predictions.

    Args:
        data_dir: the Human3.6M folder (None: ``$WILDPOSE_DATA`` or ``../shared/data/h36m``).
        out_dir: one folder per row, named by its model (``<out_dir>/zhou-s1-3d/`` with
            ``model.safetensors``, ``last.pt``, ``log.jsonl`` and ``eval.json``), plus
            ``results.json`` and ``results.md``.
        epochs: passes over the 3D-labelled samples (default 15; quick 3).
        quick: small settings (:data:`TRANSFER_QUICK`) to smoke-test the pipeline.
        eval_stride: score every n-th test frame (default 5; quick 25).
        rows: labels of the rows to run (default all).
        resume: continue interrupted rows and skip finished ones (same settings only).
        overrides: any :class:`ZhouConfig` field (e.g. ``lambda_geo``, ``width``,
            ``lab_stride``, ``wild_stride``, ``batch_3d``, ``seed``, ``device``), applied to
            every row.
    Returns:
        the results dict also written to ``results.json`` ("rows", "ground_truth_bone_symmetry",
        "claims", "settings", "minutes", "table").

    Notes:
        Budget: with the defaults the five rows see about 1.8M training samples per epoch in
        all (S1 at every frame is about 238k training samples; the 3D+2D rows double each
        batch), about 4 min per epoch at 7-9k samples/s, so 15 epochs take about 60 min, plus
        about 5 min to load and evaluate.

        The default ``lambda_geo`` of 0.3 was first picked from small runs scored on S9/S11,
        which the protocol forbids; it was then re-checked without the test subjects
        (``configs/zhou-validation/``): S8 held out entirely and scored (its 3D used only for
        scoring), S5-S7 as the 2D-only data, S1 every 2nd frame, 10 epochs.  There every
        3D+2D/w geo setting tried (lambda_geo 0.1 and 0.3, L_geo also on the 3D samples,
        a quarter-size 2D-only batch) reached P1 56.0-56.1 mm against 55.5 and 56.0 mm for
        3D/wo geo with two seeds, while lowering the mean bone symmetry error from 21.4 to
        16.8-18.7 mm: no setting improves P1 beyond the seed spread, and 0.3 is kept.
    """
    t0 = time.time()
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    settings = {**TRANSFER_SETTINGS, **(TRANSFER_QUICK if quick else {})}
    if epochs is not None:
        settings["epochs"] = epochs
    if eval_stride is not None:
        settings["eval_stride"] = eval_stride
    settings.update(overrides)
    settings["stage1_epochs"] = min(settings["stage1_epochs"], settings["epochs"])
    eval_stride_ = int(settings.pop("eval_stride"))
    check_experiment_options(settings, ZhouConfig, own=("data_dir", "out_dir", "name"))
    chosen = select_rows(TRANSFER_ROWS, rows)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    loader = _SubjectCache(str(data_dir))
    test = load_h36m(data_dir, subjects=tuple(test_subjects), stride=eval_stride_, load_sh=True)
    gt_rel = test.pose_3d - test.pose_3d[:, :1]
    gt_sym = {k: float(v.mean()) for k, v in bone_symmetry_error(gt_rel).items()}

    results = []
    for label, name, spec in chosen:
        row_dir = out / name
        base = {**settings, **spec}
        if spec.get("lab_subjects") and len(spec["lab_subjects"]) > 1:
            base["lab_stride"] = settings["wild_stride"]  # five subjects at the wild rate
        cfg = ZhouConfig.from_dict({**base, "data_dir": str(data_dir), "out_dir": str(row_dir),
                                    "name": name})
        key = {"config": flatten_options(cfg.to_dict()), "eval_stride": eval_stride_,
               "test_subjects": list(test_subjects)}
        results.append(run_row(
            label, name, row_dir / "eval.json", key, resume,
            lambda: train_zhou(cfg, resume=resume, progress=progress,
                               data=prepare_zhou_data(cfg, loader)),
            lambda path: _evaluate(ZhouLifter(load_model(path), device=cfg.device), test),
            _describe))

    by_row = {r["row"]: r for r in results}
    check_text, checks = _claims(by_row)
    defaults = {k: v for k, v in flatten_options(ZhouConfig().to_dict()).items()
                if k not in ("data_dir", "out_dir", "name", "lab_subjects", "wild_subjects")}
    shown = json.loads(json.dumps({**defaults, **settings, "eval_stride": eval_stride_,
                                   "test_subjects": list(test_subjects)}))
    table = _markdown(results, gt_sym, shown, check_text)
    summary = {"experiment": "zhou-transfer", "settings": shown, "rows": results,
               "ground_truth_bone_symmetry": gt_sym, "claims": checks,
               "skipped_test_sequences": list(test.skipped),
               "minutes": round((time.time() - t0) / 60, 1), "table": table}
    return write_results(out, summary, table)


if __name__ == "__main__":
    raise SystemExit(main(run_zhou_transfer, None, "runs/zhou-transfer"))
