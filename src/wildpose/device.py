"""Device and precision choice, the one place that decides where computation runs."""

from __future__ import annotations

import torch

__all__ = ["resolve_device", "autocast_dtype"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" -> the first CUDA GPU if there is one, else the CPU; anything else as given."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"unknown device {device!r} ({e})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was requested but torch sees no CUDA GPU")
    return dev


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for a precision setting, or None for plain float32.

    "auto" and "bf16" use bfloat16 (3x faster training on AVX-512 CPUs, native on recent
    GPUs), falling back to float16 on GPUs without bfloat16.
    """
    if precision == "fp32":
        return None
    if precision in ("bf16", "auto"):
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            return torch.float16
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    raise ValueError(f"unknown precision {precision!r}: use auto, fp32, bf16 or fp16")
