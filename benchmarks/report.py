"""A markdown page of every result record in benchmarks/results/ (docs/records.md).

    python benchmarks/report.py -o docs/records.md     # or without -o: to stdout

One section per result file (oldest first) with the command that produced it, the commit,
the machine, the date and the measured figures. BENCHMARKS.md is written by hand from these
records and is never touched by this script.  Absolute paths of the machine that wrote a
record are shown relative to the repository (``runs/...``) or to the data folder
(``../shared/data/...``), or by their last part only.  Numbers are printed as measured, rounded to
the nearest at a fixed precision (mm and percent to 1 decimal, poses/s to the unit, seconds
to the millisecond); a figure that is absent from a file is printed as "n/a", never guessed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

import _common


def _fmt(v: Any, spec: str) -> str:
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
        return "n/a"
    return format(v, spec)


def mm(v: Any) -> str:
    return _fmt(v, ".1f")


pct = mm


def sec(v: Any) -> str:
    return _fmt(v, ".3f")


def rate(v: Any) -> str:
    return _fmt(v, ",.0f")


def mib(v: Any) -> str:
    return _fmt(v, ".0f")


def with_unit(text: str, unit: str) -> str:
    return text if text == "n/a" else f"{text} {unit}"


def get(d: Any, *keys: str) -> Any:
    """d[k1][k2]..., or None if any level is missing."""
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _table(header: list[str], rows: list[list[str]], align: str = "") -> list[str]:
    align = align or "l" + "r" * (len(header) - 1)
    return ["| " + " | ".join(header) + " |",
            "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|",
            *("| " + " | ".join(r) + " |" for r in rows)]


def _model_line(model: Any) -> str:
    if not isinstance(model, dict):
        return f"model: `{model}`"
    sha = model.get("sha256") or ""
    name = f", name `{model['name']}`" if model.get("name") else ""
    cfg = model.get("config") or {}
    arch = f", width {cfg['width']}, {cfg['blocks']} block(s)" if "width" in cfg else ""
    return f"model: `{model.get('argument')}` (sha256 {sha[:12] or 'n/a'}{name}{arch})"


# ---------------------------------------------------------------------------------- sections
def accuracy_section(rec: dict) -> list[str]:
    p, r = rec.get("params", {}), rec.get("results", {})
    flip = {True: "on", False: "off"}.get(p.get("flip_test"), "n/a")
    out = [f"- {_model_line(p.get('model'))}",
           f"- inputs `{p.get('inputs')}`, subjects {r.get('subjects')}, stride "
           f"{p.get('stride')}, flip test {flip}, device {p.get('device')}"
           + (", bones set to each sequence's median lengths" if p.get("consistent_bones")
              else "")
           + (", left and right alike" if p.get("symmetric_bones") else "")
           + (f", window read {', '.join(map(str, p['window_steps']))} frames apart and "
              f"averaged" if len(p.get("window_steps") or []) > 1 else "")
           + (f", a lower limb missing in {p['occlude']:g} of the frames (robustness check)"
              if p.get("occlude") else "")
           + (f", computed in {p['precision']}" if p.get("precision", "fp32") != "fp32"
              else ""),
           f"- samples scored: {r.get('num_samples', 'n/a')}, without inputs: "
           f"{r.get('num_skipped_samples', 'n/a')}"]
    out += [f"- skipped: {s}" for s in r.get("skipped") or []]
    split = r.get("wall_time_split_s") or {}
    out += [f"- wall time {sec(r.get('wall_time_s'))} s (model {sec(split.get('load_model'))} s, "
            f"data {sec(split.get('load_data'))} s, lift + score "
            f"{sec(split.get('lift_and_score'))} s), peak RSS {mib(r.get('peak_rss_mib'))} MiB",
            ""]
    out += _table(["P1 (mm)", "P2 (mm)", "N-MPJPE (mm)", "PCK@150 (%)", "AUC (%)",
                   "Bone symmetry (mm)"],
                  [[mm(r.get("P1_mm")), mm(r.get("P2_mm")), mm(r.get("N-MPJPE_mm")),
                    pct(r.get("PCK@150_percent")), pct(r.get("AUC_percent")),
                    mm(get(r, "bone_symmetry_mm", "mean"))]], align="rrrrrr")
    pa = r.get("per_action") or {}
    metrics = pa.get("metrics") or {}
    if metrics:
        names = list(metrics)
        units = {"PCK@150": "%", "AUC": "%"}
        rows = [[a, *(mm(get(metrics, m, a)) for m in names),
                 str(get(pa, "counts", a) if get(pa, "counts", a) is not None else "n/a")]
                for a in [*pa.get("actions", []), "Average"]]
        out += ["", "Per action (Average: the mean of the action means):", ""]
        out += _table(["Action", *(f"{m} ({units.get(m, 'mm')})" for m in names), "N"], rows)
    return out


def speed_section(rec: dict) -> list[str]:
    p, r = rec.get("params", {}), rec.get("results", {})
    threads = p.get("torch_num_threads")
    omp = p.get("omp_num_threads_env")
    load = r.get("load_average_at_start")
    load = " / ".join(_fmt(x, ".2f") for x in load) if isinstance(load, list) else "n/a"
    out = [f"- {_model_line(p.get('model'))}",
           f"- device {p.get('device')}, torch threads {threads if threads else 'n/a'}"
           f"{f' (OMP_NUM_THREADS={omp})' if omp else ''}, "
           f"inputs: {p.get('inputs')}; each figure: one warm-up call, then at least "
           f"{p.get('min_seconds')} s of `Lifter.lift` calls of one batch each",
           f"- load average at start (1 / 5 / 15 min): {load}", ""]
    # Records before the precision option computed in float32 throughout.
    rows = [[t.get("backend", "n/a"), t.get("precision", "fp32"),
             {True: "on", False: "off"}.get(t.get("flip_test"), "n/a"),
             str(t.get("batch_size", "n/a")), rate(t.get("poses_per_s")),
             _fmt(t.get("median_call_ms"), ".1f"), str(t.get("calls", "n/a"))]
            for t in r.get("throughput") or []]
    if rows:
        out += _table(["Backend", "Precision", "Flip test", "Batch", "Poses/s",
                       "Median call (ms)", "Calls"], rows, align="lllrrrr")
    cli = r.get("cli_lift")
    if cli:
        out += ["", f"`wildpose lift` wall time (`{cli.get('executable')}`, median of "
                    f"{len(get(cli, 'default', 'runs_s') or [])} runs after "
                    f"{get(cli, 'default', 'warmup_runs')} warm-up):", ""]
        rows = [[f"`{get(cli, k, 'command')}`", sec(get(cli, k, "median_s")),
                 sec(get(cli, k, "min_s")), sec(get(cli, k, "max_s"))]
                for k in ("default", "max_png_0") if k in cli]
        out += _table(["Command", "Median (s)", "Min (s)", "Max (s)"], rows)
    out.append("")
    if cli:
        out.append(f"- PNG drawing: {sec(cli.get('png_cost_s'))} s per command "
                   f"(difference of the medians)")
    rss = r.get("peak_rss_mib") or {}
    if rss:
        out.append("- peak RSS (MiB): " + ", ".join(f"{k} {mib(v)}" for k, v in rss.items()))
    return out


def training_curve_section(rec: dict) -> list[str]:
    p, r = rec.get("params", {}), rec.get("results", {})
    cfg = p.get("config") or {}
    keys = ("inputs", "width", "blocks", "batch_size", "epochs", "lr", "dropout", "stride",
            "noise_max", "drop_prob", "seed", "precision")
    out = [f"- run `{p.get('run_dir')}`: " + ", ".join(f"{k} {cfg[k]}" for k in keys if k in cfg),
           f"- epochs logged {r.get('epochs_logged', 'n/a')} of "
           f"{r.get('epochs_configured', 'n/a')}; finished (model exported): "
           f"{'yes' if r.get('finished') else 'no'}",
           f"- total training time {with_unit(_fmt(r.get('total_minutes'), '.2f'), 'min')}; "
           f"final validation MPJPE {with_unit(mm(r.get('final_val_mpjpe_mm')), 'mm')}; best "
           f"{with_unit(mm(r.get('best_val_mpjpe_mm')), 'mm')} (epoch "
           f"{r.get('best_epoch') or 'n/a'})"]
    out += [f"- log note: {n}" for n in r.get("log_notes") or []]
    rows = [[str(e.get("epoch")), _fmt(e.get("minutes"), ".2f"), mm(e.get("train_mpjpe_mm")),
             mm(e.get("val_mpjpe_mm"))] for e in r.get("curve") or []]
    if rows:
        out += [""] + _table(["Epoch", "Minutes", "Train MPJPE (mm)", "Val MPJPE (mm)"], rows,
                             align="rrrr")
    return out


def dual_source_accuracy_section(rec: dict) -> list[str]:
    r = rec.get("results") or {}
    p = rec.get("params") or {}
    out = [f"- test rows per input kind: {r.get('num_test_rows')} (S9+S11, stride "
           f"{p.get('stride')}); peak RSS {mib(r.get('peak_rss_mib'))} MiB"]
    rows = []
    for lib, L in (r.get("libraries") or {}).items():
        idx = L.get("index") or {}
        out.append(f"- library `{lib}`: {idx.get('entries')} entries = {idx.get('poses')} poses x "
                   f"{idx.get('cameras')} virtual cameras, {idx.get('index_type')} index, built in "
                   f"{sec(L.get('build_seconds'))} s; scored on {len(L.get('scored_joints') or [])}"
                   f" joints")
        for kind, res in (L.get("inputs") or {}).items():
            nn, rc = res.get("nearest") or {}, res.get("reconstruction") or {}
            rows.append([lib, kind, mm(nn.get("P1")), mm(nn.get("P2")), mm(rc.get("P1")),
                         mm(rc.get("P2")), _fmt(res.get("P2_improvement_percent"), ".1f"),
                         _fmt(res.get("ms_per_pose"), ".2f"), str(res.get("rows_scored"))])
    if rows:
        out += [""] + _table(["Library", "2D input", "NN P1 (mm)", "NN P2 (mm)",
                              "Recon. P1 (mm)", "Recon. P2 (mm)", "P2 gain (%)", "ms/pose",
                              "Rows"], rows, align="llrrrrrrr")
    var = [[lib, kind, label, mm(v.get("P1")), mm(v.get("P2")),
            _fmt(v.get("ms_per_pose"), ".2f"), str(v.get("rows_scored"))]
           for lib, L in (r.get("libraries") or {}).items()
           for kind, res in (L.get("inputs") or {}).items()
           for label, v in (res.get("variants") or {}).items()]
    if var:
        out += ["", "Variants (perspective: full-perspective fit with the real intrinsics; "
                    "learned: a shipped lifter alone, and as the reconstruction's "
                    "initialization):", ""]
        out += _table(["Library", "2D input", "Variant", "P1 (mm)", "P2 (mm)", "ms/pose",
                       "Rows"], var, align="lllrrrr")
    return out


def dual_source_scale_section(rec: dict) -> list[str]:
    r = rec.get("results") or {}
    out = [f"- poses from {r.get('pose_pool')} ({r.get('pool_size')} poses); queries: "
           f"{r.get('queries_from')}; FAISS {r.get('faiss_version')}, "
           f"{r.get('faiss_threads')} threads"]
    rows = []
    for x in r.get("rows") or []:
        ms = x.get("ms_per_pose") or {}
        rec_ = x.get("recall") or {}
        disk = x.get("disk_bytes_total")
        if disk is None and isinstance(x.get("disk_bytes"), dict):
            disk = sum(x["disk_bytes"].values())
        rss = get(x, "rss_mib", "after_build")
        rows.append([str(x.get("entries")), str(x.get("index_type", "-")),
                     sec(x.get("build_seconds")), mib(None if disk is None else disk / 2**20),
                     mib(rss), _fmt(ms.get("faiss_search"), ".3f"),
                     _fmt(ms.get("search_and_rerank"), ".3f"),
                     _fmt(ms.get("lift_total"), ".3f"),
                     _fmt(rec_.get("faiss@10"), ".3f"), _fmt(rec_.get("reranked@10"), ".3f"),
                     "extrapolated (power law)" if x.get("simulated") else "measured"])
    if rows:
        out += [""] + _table(["Entries", "Index", "Build (s)", "Disk (MiB)", "RSS after build "
                              "(MiB)", "Search ms/pose", "+ re-rank ms/pose",
                              "Lift ms/pose", "Recall@10", "Re-ranked recall@10", "How"],
                             rows, align="rlrrrrrrrrl")
    return out


def temporal_smoothing_section(rec: dict) -> list[str]:
    """2D smoothed along time before lifting: sigma chosen on validation, then tested."""
    p, r = rec.get("params") or {}, rec.get("results") or {}
    out = [f"- {_model_line(p.get('model'))}, inputs `{p.get('inputs')}`",
           f"- validation: {p.get('validation')}: {r.get('validation_frames')} frames of "
           f"{', '.join(r.get('validation_sequences') or [])}", ""]
    sweep = r.get("validation_sweep") or []
    if any("bones" in s for s in sweep):  # records with bone modes and window steps
        out += _table(["sigma (frames, 50 fps)", "window steps", "bones",
                       "validation P1 (mm)", "validation P2 (mm)"],
                      [[f"{s.get('sigma'):g}", " ".join(map(str, s.get("window_steps") or [])),
                        str(s.get("bones")), mm(s.get("P1_mm")), mm(s.get("P2_mm"))]
                       for s in sweep], align="rllrr")
        chosen = (f"sigma {r.get('chosen_sigma')}, window steps "
                  f"{' '.join(map(str, r.get('chosen_window_steps') or []))}, bones "
                  f"{r.get('chosen_bones')}")
    else:
        bones = any("consistent_bones" in s for s in sweep)
        out += _table(["sigma (frames, 50 fps)"] + (["consistent bones"] if bones else [])
                      + ["validation P1 (mm)", "validation P2 (mm)"],
                      [[f"{s.get('sigma'):g}"] + (["on" if s.get("consistent_bones") else "off"]
                                                   if bones else [])
                       + [mm(s.get("P1_mm")), mm(s.get("P2_mm"))] for s in sweep],
                      align="rrrr" if bones else "rrr")
        chosen = f"sigma {r.get('chosen_sigma')}" + (
            ", consistent bones " + ("on" if r.get("chosen_consistent_bones") else "off")
            if bones else "")
    out += ["", f"Chosen on validation: {chosen}. Test, S9 + S11, every frame:", ""]
    out += _table(["sigma", "P1 (mm)", "P2 (mm)", "bone symmetry (mm)", "samples"],
                  [[k, mm(v.get("P1_mm")), mm(v.get("P2_mm")), mm(v.get("bone_symmetry_mm")),
                    str(v.get("num_samples"))] for k, v in (r.get("test") or {}).items()],
                  align="rrrrr")
    return out


def zhou_validation_section(rec: dict) -> list[str]:
    """Zhou et al.'s settings compared on held-out S8 (never S9/S11)."""
    runs = (rec.get("results") or {}).get("runs") or []
    if not runs:
        return ["- no runs"]
    s0 = runs[0].get("settings") or {}
    out = [f"- 3D labels: S1 every {s0.get('lab_stride')} frame(s); 2D only: "
           f"S{', S'.join(map(str, s0.get('wild_subjects') or []))} every "
           f"{s0.get('wild_stride')} frames; scored on S"
           f"{', S'.join(map(str, s0.get('test_subjects') or []))} every "
           f"{s0.get('eval_stride')} frames, GT 2D; {s0.get('epochs')} epochs, width "
           f"{s0.get('width')}", ""]
    keys = ("lambda_geo", "geo_on_3d", "batch_2d", "seed")
    rows = [[run["name"], r["row"], *(str((run.get("settings") or {}).get(k)) for k in keys),
             mm(r.get("P1_mm")), mm(r.get("P2_mm")), mm(r.get("bone_symmetry_mm"))]
            for run in runs for r in run["rows"]]
    out += _table(["config", "row", *keys, "P1 (mm)", "P2 (mm)", "mean bone symmetry (mm)"],
                  rows, align="llllllrrr")
    out += ["", "Each run:", ""] + [f"- `{run['produced_by']}`" for run in runs]
    return out


def validation_sweep_section(rec: dict) -> list[str]:
    """Training runs compared on their held-out training sequences (never S9/S11)."""
    r = rec.get("results") or {}
    varied, common = r.get("varied") or [], r.get("common") or {}
    out = ["- common settings: " + ", ".join(f"{k} {json.dumps(v)}" for k, v in common.items()),
           ""]
    runs = r.get("runs") or []
    n_epochs = max((len(run.get("val_mpjpe_mm") or []) for run in runs), default=0)
    rows = [[*(json.dumps((run.get("setting") or {}).get(k)) for k in varied),
             *(mm(v) for v in (run.get("val_mpjpe_mm") or [])),
             *(["n/a"] * (n_epochs - len(run.get("val_mpjpe_mm") or []))),
             _fmt(run.get("minutes"), ".2f")] for run in runs]
    out += _table([*varied, *(f"val MPJPE ep. {i + 1} (mm)" for i in range(n_epochs)),
                   "minutes"], rows, align="l" * len(varied) + "r" * (n_epochs + 1))
    return out


def experiment_section(rec: dict) -> list[str]:
    """A paper experiment run by the CLI: its command and the tables it wrote."""
    p = rec.get("params") or {}
    r = rec.get("results") or {}
    exp = r.get("experiment") or {}
    minutes = exp.get("total_minutes", exp.get("minutes"))
    out = ["- produced by:", "", "```sh", str(p.get("produced_by")), "```", "",
           f"- results file `{p.get('results_file')}`, written {p.get('results_file_written')}",
           f"- wall time of the experiment: {_fmt(minutes, '.1f')} min"]
    md = r.get("markdown")
    if md:
        # The experiment's own headings sit below this section's.
        out += [""] + [("##" + line) if line.startswith("#") else line
                       for line in md.rstrip().splitlines()]
    return out


def predict_accuracy_section(rec: dict) -> list[str]:
    r = rec.get("results") or {}
    p = rec.get("params") or {}
    lifted = r.get("images_lifted")
    out = [f"- detector `{p.get('detector', 'n/a')}`; retry when nobody is found: "
           f"{p.get('detector_retry', 'n/a')}",
           f"- **PCK@0.1 {_fmt(r.get('pck'), '.3f')}** over {r.get('labelled_joints')} labelled "
           f"joints of {r.get('images')} single-person photos; a person found in "
           f"{r.get('images_with_a_detection')} of them"
           + ("" if lifted is None else f", lifted to 3D in {lifted}"),
           f"- PCK@0.1 on confident joints {_fmt(r.get('pck_confident_joints'), '.3f')} "
           f"(coverage {_fmt(r.get('confident_joint_coverage'), '.3f')})",
           f"- 3D plausibility: mean bone symmetry error "
           f"{mm(get(r, 'bone_symmetry_mm', 'mean'))} mm; mean |bone length / Human3.6M mean - 1|"
           f" {_fmt(r.get('bone_length_ratio_mean_abs_deviation'), '.3f')}",
           f"- {_fmt(r.get('seconds_per_image'), '.3f')} s per image (model loaded)"]
    rows = [[j, _fmt(v, ".3f")] for j, v in (r.get("pck_per_joint") or {}).items()]
    if rows:
        out += [""] + _table(["Joint", "PCK@0.1"], rows, align="lr")
    return out


def predict_speed_section(rec: dict) -> list[str]:
    r = rec.get("results") or {}
    rows = [[k, rate(v.get("per_s")), _fmt(v.get("median_ms"), ".1f")]
            for k, v in r.items() if isinstance(v, dict) and "per_s" in v]
    return [f"- model load {sec(r.get('model_load_seconds'))} s"] + [""] + _table(
        ["Stage", "per second", "median ms"], rows, align="lrr")


def zhou_image_speed_section(rec: dict) -> list[str]:
    p, r = rec.get("params") or {}, rec.get("results") or {}
    t, m = r.get("throughput") or {}, r.get("memory") or {}
    ep, gpu = r.get("epoch") or {}, r.get("gpu_assumption") or {}
    load = r.get("load_average_at_start")
    load = " / ".join(_fmt(x, ".2f") for x in load) if isinstance(load, list) else "n/a"
    omp = p.get("omp_num_threads_env")
    out = [f"- training steps on the CPU, float32, torch threads "
           f"{p.get('torch_num_threads', 'n/a')}{f' (OMP_NUM_THREADS={omp})' if omp else ''};"
           f" batch {t.get('batch', 'n/a')} ({t.get('batch_3d_rows', 'n/a')} 3D + "
           f"{t.get('batch_2d_only_rows', 'n/a')} 2D-only rows, stage-3 losses); median of "
           f"{t.get('timed_steps', 'n/a')} steps after {t.get('warmup_steps', 'n/a')} warm-up;"
           f" excluded: {p.get('excluded', 'n/a')}",
           f"- load average at start (1 / 5 / 15 min): {load}",
           f"- memory: peak-RSS growth of a step, fresh process per batch size "
           f"{[x.get('batch') for x in m.get('probes') or []]}, line fit; process RSS before "
           f"the first step {mib(m.get('process_rss_before_steps_mib'))} MiB", ""]
    out += _table(["Images/s", "s/step", "MiB fixed per step", "MiB per image",
                   "CPU GFLOP/s achieved"],
                  [[_fmt(t.get("images_per_s"), ".1f"), sec(t.get("median_step_s")),
                    _fmt(m.get("mib_fixed_per_step"), ".1f"), _fmt(m.get("mib_per_image"), ".2f"),
                    _fmt(r.get("cpu_achieved_gflops_per_s"), ".1f")]], align="rrrrr")
    rows = []
    for key, label in (("configured", "configured"), ("paper", "paper-scale")):
        n = get(r, "networks", key) or {}
        if not n:
            continue
        rows.append([label, f"{n.get('image_size')} px, {n.get('stacks')} x {n.get('width')}, "
                            f"depth {n.get('hourglass_depth')}",
                     _fmt(n.get("parameters"), ",d"), _fmt(n.get("forward_gflops_per_image"),
                                                           ".3f"),
                     _fmt(n.get("train_step_gflops_per_image"), ".3f"),
                     _fmt(n.get("gpu_epoch_minutes"), ".2f"), rate(n.get("gpu_images_per_s")),
                     _fmt(n.get("cpu_epoch_hours"), ".1f")])
    out += ["", f"Projected epoch of Human3.6M + MPII: {_fmt(ep.get('images'), ',d')} images "
                f"({_fmt(ep.get('h36m_images'), ',d')} Human3.6M: {ep.get('h36m_source')}; "
                f"{_fmt(ep.get('mpii_images'), ',d')} MPII: {ep.get('mpii_source')}). GPU: "
                f"{gpu.get('name')} at {_fmt(gpu.get('peak_tflops'), 'g')} TFLOP/s peak x "
                f"utilization {_fmt(gpu.get('utilization'), 'g')}; {gpu.get('note')}. CPU "
                f"hours: the configured network at its measured images/s, the paper-scale one "
                f"at the CPU's measured FLOP rate. FLOPs: FlopCounterMode (convolutions and "
                f"matrix products), forward + backward.", ""]
    out += _table(["Network", "Size", "Params", "Fwd GFLOP/image", "Train GFLOP/image",
                   "GPU epoch (min)", "GPU images/s", "CPU epoch (h)"], rows,
                  align="llrrrrrr")
    pm = get(r, "networks", "paper", "cpu_measured")
    if pm:
        hours = get(r, "networks", "paper", "cpu_epoch_hours_at_its_measured_images_per_s")
        out += ["", f"- paper-scale network measured on the CPU: "
                    f"{_fmt(pm.get('images_per_s'), '.2f')} images/s (batch {pm.get('batch')}, "
                    f"{pm.get('timed_steps')} step(s)), an epoch {_fmt(hours, '.1f')} h"]
    return out


def machine_speed_section(rec: dict) -> list[str]:
    r = rec.get("results", {})
    rows = [[k, _fmt(get(r, k, "median_step_ms"), ".2f"),
             _fmt(get(r, k, "fastest_step_ms"), ".2f")]
            for k in ("bf16", "fp32") if isinstance(r.get(k), dict)]
    return [f"- torch threads {r.get('torch_threads', 'n/a')}; one training step of the "
            f"shipped video lifter's network (batch {get(rec, 'params', 'batch_size')})", ""] \
        + _table(["Precision", "Median (ms/step)", "Fastest (ms/step)"], rows, align="lrr")


def generic_section(rec: dict) -> list[str]:
    return ["```json", json.dumps(rec.get("results"), indent=2), "```"]


SECTIONS: dict[str, Callable[[dict], list[str]]] = {
    "accuracy": accuracy_section, "speed": speed_section,
    "training_curve": training_curve_section,
    "dual_source_accuracy": dual_source_accuracy_section,
    "dual_source_scale": dual_source_scale_section,
    "predict_accuracy": predict_accuracy_section,
    "predict_speed": predict_speed_section,
    "experiment_ronchi": experiment_section,
    "experiment_zhou-transfer": experiment_section,
    "experiment_zhou-image": experiment_section,
    "temporal_smoothing": temporal_smoothing_section,
    "zhou_validation": zhou_validation_section,
    "validation_sweep": validation_sweep_section,
    "zhou_image_speed": zhou_image_speed_section,
    "machine_speed": machine_speed_section,
}


def _machine_line(m: Any) -> str:
    if not isinstance(m, dict):
        return "n/a"
    return (f"{m.get('cpu_model')}, {m.get('cpu_count')} CPUs, {m.get('memory_gib')} GiB; "
            f"torch {m.get('torch')}, numpy {m.get('numpy')}, Python {m.get('python')}")


def section(path: Path, rec: dict) -> list[str]:
    kind = rec.get("benchmark", "unknown")
    dirty = rec.get("dirty_paths") or []
    out = [f"## {kind}: {path.stem}", "",
           "```sh", str(rec.get("command", "n/a")), "```", "",
           f"- commit `{rec.get('commit', 'n/a')}`"
           + (f" (uncommitted changes in {len(dirty)} path(s): {', '.join(dirty[:8])}"
              f"{' ...' if len(dirty) > 8 else ''})" if dirty else ""),
           f"- machine: {_machine_line(rec.get('machine'))}",
           f"- date: {rec.get('date', 'n/a')}"]
    out += SECTIONS.get(kind, generic_section)(rec)
    return out + [""]


# An absolute path inside a line of text: it starts after a space, quote, bracket or "=".
_ABS_PATH = re.compile(r"(?<=[\s`'\"(=])/(?:[\w.+-]+/)*[\w.+-]*")
_REPO_DIRS = ("runs", "src", "configs", "benchmarks", "examples", "experiments", ".venv")


def relative_path(path: str) -> str:
    """``path`` without the part that names the machine it was written on: from the first
    repository folder (``runs/x``), from the shared data folder (``../shared/data/x``), or
    else ``.../<last part>``."""
    parts = path.strip("/").split("/")
    for i, part in enumerate(parts):
        if part in _REPO_DIRS:
            return "/".join(parts[i:])
        if part == "data" and i > 0 and parts[i - 1] == "shared":
            return "/".join(["..", *parts[i - 1:]])
    return ".../" + parts[-1] if parts[-1] else path


def without_machine_paths(text: str) -> str:
    return _ABS_PATH.sub(lambda m: relative_path(m.group(0)), text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results-dir", default=str(_common.RESULTS_DIR),
                   help="folder of result JSON files (default: benchmarks/results)")
    p.add_argument("-o", "--output", help="write the page to this file (default: stdout)")
    args = p.parse_args(argv)
    folder = Path(args.results_dir)
    records = []
    for path in sorted(folder.glob("*.json")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            print(f"report: skipping {path}: {e}", file=sys.stderr)
            continue
        if not isinstance(rec, dict):
            print(f"report: skipping {path}: not a result record", file=sys.stderr)
            continue
        records.append((str(rec.get("date", "")), path.name, path, rec))
    if not records:
        print(f"report: no result files in {folder}", file=sys.stderr)
        return 1
    lines = [f"<!-- generated by python benchmarks/report.py from {len(records)} file(s) in "
             f"{relative_path(str(folder.resolve()))}; do not edit -->", "",
             "# Records", "",
             "Every result record in `benchmarks/results/`, oldest first: the command that wrote "
             "it, the commit, the machine, the date and its figures. The summary is "
             "[BENCHMARKS.md](../BENCHMARKS.md).", ""]
    for _, _, path, rec in sorted(records, key=lambda t: t[:2]):
        lines += section(path, rec)
    text = without_machine_paths("\n".join(lines) + "\n")
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
