"""Rejected options removed from wildpose: files that store them switched off still load (the
shipped models and recipes do), files that have one on are refused in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import save_file

from wildpose.methods.ronchi import RonchiConfig
from wildpose.retired import drop_retired
from wildpose.training import TrainConfig
from wildpose.zoo import load_model, load_numpy_model, read_model_info


def test_drop_retired_drops_off_values_and_refuses_on_values():
    retired = {"turn_deg": 0.0, "window_norm": "frame"}
    assert drop_retired({"width": 8, "turn_deg": 0.0, "window_norm": "frame"}, retired,
                        "x") == {"width": 8}
    with pytest.raises(ValueError, match="^cfg.json: option turn_deg=30 was removed"):
        drop_retired({"turn_deg": 30}, retired, "cfg.json")


def test_training_configs_that_name_removed_options_switched_off_load():
    off = {"smooth_2d": 0.0, "turn_deg": 0.0, "reverse_prob": 0.0, "window_targets": 0.0,
           "window_norm": "frame", "width": 64}
    assert TrainConfig.from_dict(off).network.width == 64
    assert RonchiConfig.from_dict({"rank_norm": "pairs"}).rank_multiplier == 2.0
    for on in ({"reverse_prob": 0.5}, {"window_norm": "window"}, {"smooth_2d": 2.0}):
        with pytest.raises(ValueError, match="was removed"):
            TrainConfig.from_dict(on)
    with pytest.raises(ValueError, match="rank_norm='pose' was removed"):
        RonchiConfig.from_dict({"rank_norm": "pose"})


def test_the_shipped_video_ensemble_stored_the_removed_options_off_and_loads():
    info = read_model_info("h36m-sh-window")
    assert "window_norm" not in info["config"] and "time_reversal" not in info["config"]
    assert all("time_reversal" not in m["config"] for m in info["members"])
    assert load_numpy_model("h36m-sh-window").info["config"]["window"] == 33


def _model_file(path, config):
    w = np.zeros((1, 1), np.float32)
    save_file({"inp.0.weight": w}, str(path), metadata={"wildpose": json.dumps(
        {"format": 1, "architecture": "residual_mlp", "config": config})})
    return path


def test_a_model_file_with_a_removed_option_on_is_refused(tmp_path):
    path = _model_file(tmp_path / "m.safetensors", {"window": 3, "time_reversal": True})
    with pytest.raises(ValueError, match=r"m\.safetensors: option time_reversal=True was removed"):
        load_model(path)
