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
from typing import Any

import torch

from .models.lifter import LifterConfig, ResidualMLPLifter

__all__ = ["DEFAULT_MODEL", "available_models", "model_path", "save_model", "load_model",
           "read_model_info"]

DEFAULT_MODEL = "h36m-gt"

_ARCHITECTURES = {"residual_mlp": (ResidualMLPLifter, LifterConfig)}


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
        if not p.is_file():
            raise FileNotFoundError(f"model file {p} does not exist")
        return p
    shipped = _weights_dir() / f"{name_or_path}.safetensors"
    if shipped.is_file():
        return shipped
    raise ValueError(f"unknown model {name_or_path!r}: not a file, and not a shipped model "
                     f"(shipped: {', '.join(available_models()) or 'none'})")


def save_model(path: str | Path, model: torch.nn.Module, info: dict[str, Any],
               half: bool = True) -> Path:
    """Write a model as safetensors.

    Args:
        path: output file (``.safetensors``).
        model: a wildpose model with a ``config`` dataclass.
        info: JSON-serializable description (training data, inputs, metrics, ...).
        half: store matrices as float16 (halves the file; lifting accuracy changes by
            far less than 0.1 mm); vectors (biases, normalization statistics) stay float32.
    """
    from safetensors.torch import save_file

    arch = next(k for k, (cls, _) in _ARCHITECTURES.items() if isinstance(model, cls))
    tensors = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu().contiguous()
        if half and v.is_floating_point() and v.dim() >= 2:
            v = v.half()
        tensors[k] = v
    meta = {"wildpose": json.dumps({"format": 1, "architecture": arch,
                                    "config": model.config.to_dict(), **info})}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=meta)
    return path


def read_model_info(path: str | Path) -> dict[str, Any]:
    """The JSON description stored in a model file."""
    from safetensors import safe_open

    path = model_path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as e:  # safetensors raises its own error types for corrupt headers
        raise ValueError(f"model file {path} is corrupt or not a safetensors file ({e})") from None
    if "wildpose" not in meta:
        raise ValueError(f"model file {path} has no wildpose metadata: not a wildpose model")
    return json.loads(meta["wildpose"])


def _build(info: dict[str, Any], state: dict[str, torch.Tensor], source: Path) -> torch.nn.Module:
    arch = info.get("architecture")
    if arch not in _ARCHITECTURES:
        raise ValueError(f"model file {source}: unknown architecture {arch!r}")
    cls, cfg_cls = _ARCHITECTURES[arch]
    model = cls(cfg_cls(**info["config"]))
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise ValueError(f"model file {source}: weights do not match its config ({first})") from None
    model.info = info
    return model.eval()


def load_model(name_or_path: str | Path | None = None,
               device: str | torch.device = "cpu") -> torch.nn.Module:
    """Load a shipped model by name (default :data:`DEFAULT_MODEL`), a ``.safetensors`` model
    file, or a ``.pt`` training checkpoint, without executing any code from the file.

    Returns:
        the model in eval mode, with its description as ``model.info``.
    """
    path = model_path(name_or_path)
    if path.suffix == ".pt":
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
            info, state = ckpt["model_info"], ckpt["model"]
        except Exception as e:
            raise ValueError(f"checkpoint {path} is corrupt or not a wildpose checkpoint "
                             f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
                             ) from None
        return _build(info, state, path).to(device)
    from safetensors.torch import load_file

    info = read_model_info(path)
    try:
        state = load_file(str(path))
    except Exception as e:
        raise ValueError(f"model file {path} is corrupt ({e})") from None
    return _build(info, state, path).to(device)
