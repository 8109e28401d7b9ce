"""Model files and the model zoo: named models shipped inside the package.

A model file is a safetensors file (tensors cannot execute code on load) whose metadata holds
a JSON description: architecture, its config, the input layout and how it was trained.
Training checkpoints (``.pt``) are read with ``torch.load(weights_only=True)`` for the same
reason.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file as load_numpy_file

from .models.ensemble_input import EnsembleConfig, member_frames, shared_input_config
from .models.lifter_numpy import fold_batchnorm, numpy_forward
from .retired import MODEL_OPTIONS, drop_retired
from .temporal import check_window_steps

# torch and safetensors.torch (which imports torch) are imported inside the functions that
# build torch modules: numpy inference, `import wildpose` and the CLI's --help never need it.

__all__ = ["DEFAULT_MODEL", "NUMPY_ARCHITECTURES", "available_models", "model_path",
           "save_model", "save_ensemble", "load_model", "load_numpy_model", "read_model_info",
           "validation_split", "ValidationSplit", "NumpyModel", "NumpyEnsemble"]

# The default for photos and video: `wild`, trained for any detector's keypoints (issue 28,
# configs/wild.json).  `h36m-gt` stays shipped for the Human3.6M protocol.
DEFAULT_MODEL = "wild"

#: Model-file architectures :func:`load_numpy_model` runs.
NUMPY_ARCHITECTURES = ("residual_mlp", "ensemble")


def _architectures() -> dict:
    # Imported here so that reading a model for numpy inference never imports torch.
    from .models.lifter import LifterConfig, ResidualMLPLifter

    from .models.depth_lifter import DepthLifter
    from .models.ensemble import LifterEnsemble

    from .models.ronchi_net import RonchiNet, RonchiNetConfig  # Ronchi et al. 2018
    from .models.hourglass import ZhouImageConfig, ZhouImageNet  # Zhou et al.'s image network

    return {"residual_mlp": (ResidualMLPLifter, LifterConfig),
            "ronchi_mlp": (RonchiNet, RonchiNetConfig),
            "zhou_depth": (DepthLifter, LifterConfig),
            "zhou_image": (ZhouImageNet, ZhouImageConfig),
            "ensemble": (LifterEnsemble, EnsembleConfig)}


def _weights_dir() -> Path:
    return Path(str(resources.files("wildpose") / "weights"))


def available_models() -> list[str]:
    """Names of the models shipped with the package."""
    d = _weights_dir()
    return sorted(p.stem for p in d.glob("*.safetensors")) if d.is_dir() else []


def model_path(name_or_path: str | Path | None) -> Path:
    """Resolve a shipped model name (or None for the default) or a file path."""
    name_or_path = name_or_path or DEFAULT_MODEL
    p = Path(name_or_path)
    if p.suffix in (".safetensors", ".pt") or p.exists():
        if p.is_dir():
            raise ValueError(f"model file {p} is a folder, not a model file")
        if not p.is_file():
            raise FileNotFoundError(f"model file {p} does not exist")
        return p
    shipped = _weights_dir() / f"{name_or_path}.safetensors"
    if shipped.is_file():
        return shipped
    raise ValueError(f"unknown model {name_or_path!r}: not a file, and not a shipped model "
                     f"(shipped: {', '.join(available_models()) or 'none'})")


def save_model(path: str | Path, model: Any, info: dict[str, Any],
               half: bool = True) -> Path:
    """Write a model as safetensors.

    Args:
        path: output file (``.safetensors``).
        model: a wildpose model with a ``config`` dataclass.
        info: JSON-serializable description (training data, inputs, metrics, ...).
        half: store matrices as float16 (halves the file; lifting accuracy changes by
            far less than 0.1 mm); vectors (biases, normalization statistics) stay float32.
    """
    from safetensors.torch import save_file  # torch only here: see the note at the top

    arch = next(k for k, (cls, _) in _architectures().items() if isinstance(model, cls))
    tensors = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu().contiguous()
        if half and v.is_floating_point() and v.dim() >= 2:
            v = v.half()
        tensors[k] = v
    meta = {"wildpose": json.dumps({"format": 1, "architecture": arch,
                                    "config": model.config.to_dict(), **info})}
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not a model file to write")
    if path.suffix.lower() != ".safetensors":  # e.g. x.npy would hold safetensors bytes
        raise ValueError(f"{path}: a model file is written as safetensors and must end in "
                         f".safetensors (e.g. {path.with_suffix('.safetensors').name})")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=meta)
    return path


def save_ensemble(path: str | Path, members: list[str | Path], name: str | None = None,
                  description: str | None = None,
                  test_window_steps: list[int] | None = None) -> Path:
    """Write one model file that averages the outputs of several residual-MLP lifters.

    Args:
        path: output file (``.safetensors``).
        members: shipped model names or model files; they must read the same joints,
            normalized the same way; video members may read different windows (see
            :func:`wildpose.models.ensemble_input.shared_input_config`).
        name, description: the ensemble's name (default: the file's stem) and a sentence
            on what it is.
        test_window_steps: for video members, the steps (frames apart, in the ensemble's
            own step's place) that :class:`wildpose.Lifter` reads the ensemble's window at
            by default, averaging the readings (its ``window_steps``); None: its own step.
    Returns:
        the path written.  Its description keeps every member's (``members``), sums their
        ``train_minutes`` (training the ensemble from scratch trains every member) and
        copies the description fields the members agree on (inputs, training subjects, ...).
    """
    from .models.ensemble import LifterEnsemble  # imports torch: see the note at the top

    models = [load_model(m) for m in members]
    for m, src in zip(models, members):
        if m.info.get("architecture") != "residual_mlp":
            raise ValueError(f"ensemble member {src}: only residual_mlp lifters can be "
                             f"averaged, not {m.info.get('architecture')!r}")
    ensemble = LifterEnsemble(models)
    if test_window_steps is not None:
        if ensemble.config.window == 1:
            raise ValueError("test_window_steps needs video lifters; these members read one "
                             "frame each")
        test_window_steps = check_window_steps(test_window_steps, "test_window_steps")
    infos = [m.info for m in models]
    shared = {k: v for k, v in infos[0].items()
              if k not in ("format", "architecture", "config", "name", "train_minutes")
              and all(i.get(k) == v for i in infos[1:])}
    minutes = [i.get("train_minutes") for i in infos]
    info = {**shared, "name": name or Path(path).stem,
            "description": description or f"mean of {len(models)} lifters",
            "train_minutes": round(sum(minutes), 2) if None not in minutes else None,
            "members": infos}
    if test_window_steps is not None:
        info["test_window_steps"] = list(test_window_steps)
    return save_model(path, ensemble, info)


class ValidationSplit(NamedTuple):
    """What a model held out of its training subjects for validation
    (``wildpose.training.split_validation(data, fraction, seed, subjects)``)."""

    fraction: float           # share of the other subjects' sequences held out
    seed: int                 # the seed that drew them
    subjects: tuple[int, ...]  # subjects held out whole


def validation_split(info: dict[str, Any]) -> ValidationSplit:
    """The validation a model never trained on: its training config's ``val_fraction``,
    seed (``val_seed`` if set, else ``seed``) and ``val_subjects``; defaults where its
    description has none.

    An ensemble's validation is what every member held out, so its members must agree;
    otherwise ValueError (scoring on it would score on training data).
    """
    configs = [m.get("train_config") or {} for m in info.get("members") or [info]]
    splits = {(float(c.get("val_fraction", 0.04)),
               int(c["val_seed"] if c.get("val_seed") is not None else c.get("seed", 0)),
               tuple(int(s) for s in c.get("val_subjects") or ()),
               tuple(c.get("subjects", ()))) for c in configs}
    if len(splits) > 1:
        raise ValueError(f"model {info.get('name')}: its members held out different "
                         f"validation sequences, so none is unseen by all of them")
    fraction, seed, subjects, _ = splits.pop()
    return ValidationSplit(fraction, seed, subjects)


def read_model_info(path: str | Path) -> dict[str, Any]:
    """The JSON description stored in a model file."""
    path = model_path(path)
    try:
        with safe_open(str(path), framework="np") as f:
            meta = f.metadata() or {}
    except Exception as e:  # safetensors raises its own error types for corrupt headers
        raise ValueError(f"model file {path} is corrupt or not a safetensors file ({e})") from None
    if "wildpose" not in meta:
        raise ValueError(f"model file {path} has no wildpose metadata: not a wildpose model")
    try:
        info = json.loads(meta["wildpose"])
    except json.JSONDecodeError as e:
        raise ValueError(f"model file {path}: its wildpose metadata is not valid JSON ({e})"
                         ) from None
    if not isinstance(info, dict) or not isinstance(info.get("config"), dict):
        raise ValueError(f"model file {path}: its wildpose metadata is not a model "
                         f"description (no architecture config)")
    return _without_retired(info, path)


def _without_retired(info: dict[str, Any], source: Path) -> dict[str, Any]:
    """``info`` whose architecture configs (its own and its members') no longer name
    options removed from wildpose (:mod:`wildpose.retired`); ValueError if one is on."""
    if isinstance(info.get("config"), dict):
        info = {**info, "config": drop_retired(info["config"], MODEL_OPTIONS,
                                               f"model file {source}")}
    if isinstance(info.get("members"), list):
        info["members"] = [_without_retired(m, source) if isinstance(m, dict) and
                           isinstance(m.get("config"), dict) else m for m in info["members"]]
    return info


def _member_states(info: dict[str, Any], state: dict[str, Any], source: Path) -> list:
    """An ensemble file's (member info, member weights) pairs, checked to be complete: every
    member a residual-MLP lifter, all reading the same input, every weight some member's."""
    members = info.get("members")
    if not isinstance(members, list) or not members or \
            not all(isinstance(m, dict) for m in members):
        raise ValueError(f"model file {source}: an ensemble without its members' descriptions")
    for i, m in enumerate(members):
        if m.get("architecture") != "residual_mlp" or not isinstance(m.get("config"), dict):
            raise ValueError(f"model file {source}: ensemble member {i} is "
                             f"{m.get('architecture')!r}, not a residual_mlp lifter")
    try:
        shared = shared_input_config([m["config"] for m in members],
                                     [f"#{i}" for i in range(len(members))])
    except ValueError as e:
        raise ValueError(f"model file {source}: {e}") from None
    # The file's own input must be the one its members share: Lifter prepares that one.
    if info.get("config") != shared.to_dict():
        raise ValueError(f"model file {source}: the ensemble's input {info.get('config')} is "
                         f"not the one its members share, {shared.to_dict()}")
    prefixes = [f"members.{i}." for i in range(len(members))]
    stray = [k for k in state if not k.startswith(tuple(prefixes))]
    if stray:
        raise ValueError(f"model file {source}: weights of no member ({', '.join(stray[:4])})")
    return [(m, {k[len(p):]: v for k, v in state.items() if k.startswith(p)})
            for m, p in zip(members, prefixes)]


def _build(info: dict[str, Any], state: dict[str, Any], source: Path) -> Any:
    archs = _architectures()
    arch = info.get("architecture")
    if arch not in archs:
        raise ValueError(f"model file {source}: unknown architecture {arch!r}")
    if arch == "ensemble":
        model = archs[arch][0]([_build(m_info, m_state, source)
                                for m_info, m_state in _member_states(info, state, source)])
        model.info = info
        return model.eval()
    cls, cfg_cls = archs[arch]
    try:
        model = cls(cfg_cls(**info["config"]))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"model file {source}: invalid architecture config "
                         f"({type(e).__name__}: {e})") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        # torch's message is multi-line; keep the error to one line but name the keys.
        detail = " ".join(str(e).split())
        if len(detail) > 300:
            detail = detail[:300] + " ..."
        raise ValueError(f"model file {source}: weights do not match its config ({detail})"
                         ) from None
    model.info = info
    return model.eval()


def load_model(name_or_path: str | Path | None = None, device: Any = "cpu") -> Any:
    """Load a shipped model by name (default :data:`DEFAULT_MODEL`), a ``.safetensors`` model
    file, or a ``.pt`` training checkpoint, without executing any code from the file.

    Returns:
        the model in eval mode, with its description as ``model.info``.
    """
    import torch  # optional at start-up: see the note at the top

    path = model_path(name_or_path)
    if path.suffix == ".pt":
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
            info, state = ckpt["model_info"], ckpt["model"]
            if not isinstance(info, dict) or not isinstance(state, dict):
                raise TypeError("model_info and model must be dicts")
        except Exception as e:
            raise ValueError(f"checkpoint {path} is corrupt or not a wildpose checkpoint "
                             f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
                             ) from None
        return _build(_without_retired(info, path), _require_finite(state, path),
                      path).to(device)
    from safetensors.torch import load_file  # imports torch: see the note at the top

    info = read_model_info(path)
    try:
        state = load_file(str(path))
    except Exception as e:
        raise ValueError(f"model file {path} is corrupt ({e})") from None
    return _build(info, _require_finite(state, path), path).to(device)


def _require_finite(state: dict, path: Path) -> dict:
    """``state`` if every floating-point tensor (torch or numpy) is finite; else a one-line
    ValueError naming the file and the tensors (NaN weights would pass for bad input)."""
    def finite(v: Any) -> bool:
        if not isinstance(v, np.ndarray):  # a torch tensor
            return not v.is_floating_point() or bool(v.isfinite().all())
        if v.dtype == np.float16:
            # numpy has no fast float16 loops (isfinite costs several ms per model at
            # start-up); a half is inf or NaN exactly when its 5 exponent bits are all set.
            return not ((v.view(np.uint16) & 0x7C00) == 0x7C00).any()
        return v.dtype.kind != "f" or bool(np.isfinite(v).all())

    bad = [k for k, v in state.items() if not finite(v)]
    if bad:
        raise ValueError(f"model file {path} is corrupt: non-finite weights in "
                         f"{', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}")
    return state


class NumpyModel:
    """A shipped residual-MLP lifter evaluated in numpy (no torch import: fast start-up).

    Call it like the torch module: ``model(keypoints (B, J, 2), valid (B, J)) -> (B, J, 3)``.
    """

    def __init__(self, layers: list, info: dict[str, Any]):
        self.layers = layers
        self.info = info

    def __call__(self, keypoints: Any, valid: Any) -> Any:
        return numpy_forward(self.layers, keypoints, valid)


class NumpyEnsemble:
    """:class:`NumpyModel` members whose outputs are averaged (a numpy
    :class:`~wildpose.models.ensemble.LifterEnsemble`)."""

    def __init__(self, members: list[NumpyModel], info: dict[str, Any]):
        self.members = members
        self.info = info
        shared = EnsembleConfig(**info["config"])
        self.frames = [member_frames(m.info["config"], shared) for m in members]

    def __call__(self, keypoints: Any, valid: Any) -> Any:
        return sum(m(keypoints, valid) if f is None else m(keypoints[:, f], valid[:, f])
                   for m, f in zip(self.members, self.frames)) / len(self.members)


def load_numpy_model(name_or_path: str | Path | None = None) -> NumpyModel | NumpyEnsemble:
    """Load a ``.safetensors`` residual-MLP model (or an ensemble of them) for numpy
    inference."""
    path = model_path(name_or_path)
    if path.suffix != ".safetensors":
        raise ValueError(f"{path}: numpy inference needs a .safetensors model file")
    info = read_model_info(path)
    if info.get("architecture") not in NUMPY_ARCHITECTURES:
        raise ValueError(f"model file {path}: numpy inference supports "
                         f"{', '.join(NUMPY_ARCHITECTURES)}, not {info.get('architecture')!r}")
    try:
        state = load_numpy_file(str(path))
    except Exception as e:
        raise ValueError(f"model file {path} is corrupt ({e})") from None
    _require_finite(state, path)
    if info["architecture"] == "residual_mlp":
        return _numpy_lifter(info, state, path)
    return NumpyEnsemble([_numpy_lifter(m_info, m_state, path)
                          for m_info, m_state in _member_states(info, state, path)], info)


def _numpy_lifter(info: dict[str, Any], state: dict, path: Path) -> NumpyModel:
    try:
        cfg = info["config"]
        unknown = set(cfg) - _NUMPY_CONFIG_KEYS  # options numpy_forward would ignore
        if unknown:
            raise ValueError(f"config options {sorted(unknown)} are not supported")
        blocks = int(cfg["blocks"])
        layers = fold_batchnorm(state, blocks)
        n_in, width = layers[0][0].shape  # config entries, where present, must agree
        window = int(cfg.get("window", 1))
        _check_numpy_layers(state, layers, blocks, int(cfg.get("width", width)),
                            int(cfg.get("num_joints", n_in // (3 * window))), window)
    except (KeyError, ValueError, TypeError, OSError) as e:
        raise ValueError(f"model file {path} is corrupt or incomplete ({e})") from None
    return NumpyModel(layers, info)


#: The LifterConfig fields the numpy path honours (numpy_forward), kept in sync by the zoo
#: round-trip test.
_NUMPY_CONFIG_KEYS = frozenset({"num_joints", "width", "blocks", "dropout", "window",
                                "window_step"})


def _check_numpy_layers(state: dict, layers: list, blocks: int, width: int,
                        num_joints: int, window: int = 1) -> None:
    """Raise ValueError unless the weights are exactly those of the config's architecture
    (as loading into the torch module checks): no extra blocks, consistent shapes."""
    prefixes = ("inp.", "out.", "out_mean", "out_std") + tuple(
        f"blocks.{i}." for i in range(blocks))
    extra = sorted(k for k in state if not k.startswith(prefixes))
    if extra:
        raise ValueError(f"weights not in its config: {', '.join(extra[:4])}"
                         f"{' ...' if len(extra) > 4 else ''}")
    n_out = (num_joints - 1) * 3
    shapes = ([(num_joints * 3 * window, width)] + [(width, width)] * (2 * blocks)
              + [(width, n_out)])
    for (w, b), shape in zip(layers, shapes):
        if w.shape != shape or b.shape != shape[1:]:
            raise ValueError(f"weight shapes {w.shape}/{b.shape} do not match the config "
                             f"(expected {shape})")
