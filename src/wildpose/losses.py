"""Training losses, one home for all methods.  Batched torch functions; shapes and units are
stated per function.  Sections: Zhou et al. (geometric), Ronchi et al. (relative depth)."""

from __future__ import annotations

import torch

__all__: list[str] = []


# ------------------------------------------------------------------ Zhou et al. 2017


# ------------------------------------------------------------------ Ronchi et al. 2018
