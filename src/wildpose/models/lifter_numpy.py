"""The residual MLP lifter's eval-mode forward pass in plain numpy.

Start-up matters for ``wildpose lift`` on one pose: importing torch alone takes longer than
the whole job, so shipped models also run here, with BatchNorm folded into the Linear layers.
This module must not import torch.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fold_batchnorm", "numpy_forward"]


def fold_batchnorm(state: dict, blocks: int, eps: float = 1e-5) -> list:
    """Fold each Linear+BatchNorm pair of an eval-mode lifter into one affine map.

    Args:
        state: the lifter's state dict as numpy arrays (any float dtype).
    Returns:
        [(W, b), ...] float32 affine layers in order: input layer, two per block, output
        (the output layer with the de-standardization folded in).  Used by
        :func:`numpy_forward`, which needs no torch at all.
    """

    def fold(prefix: str):
        w, b, g, beta, mu, var = (np.asarray(state[f"{prefix}.{k}"], np.float32) for k in (
            "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var"))
        k = g / np.sqrt(var + eps)
        return (w * k[:, None]).T.copy(), (b - mu) * k + beta

    layers = [fold("inp")]
    for i in range(blocks):
        layers += [fold(f"blocks.{i}.body.0"), fold(f"blocks.{i}.body.1")]
    std = np.asarray(state["out_std"], np.float32)
    mean = np.asarray(state["out_mean"], np.float32)
    w = np.asarray(state["out.weight"], np.float32) * std[:, None]
    b = np.asarray(state["out.bias"], np.float32) * std + mean
    layers.append((w.T.copy(), b))
    return layers


def numpy_forward(layers: list, keypoints, valid):
    """The lifter's eval-mode forward pass in numpy (see :func:`fold_batchnorm`).

    (B, J, 2) normalized keypoints, (B, J) bool -> (B, J, 3) float32 mm, root at the origin;
    a video lifter takes (B, W, J, 2) and (B, W, J) and returns the middle frame's pose.
    """
    b, j = keypoints.shape[0], keypoints.shape[-2]
    x = np.concatenate([keypoints.reshape(b, -1), valid.reshape(b, -1).astype(np.float32)], 1)
    x = np.maximum(x @ layers[0][0] + layers[0][1], 0)
    for k in range(1, len(layers) - 1, 2):
        h = np.maximum(x @ layers[k][0] + layers[k][1], 0)
        x = x + np.maximum(h @ layers[k + 1][0] + layers[k + 1][1], 0)
    y = x @ layers[-1][0] + layers[-1][1]
    return np.concatenate([np.zeros((b, 1, 3), np.float32), y.reshape(b, j - 1, 3)], 1)
