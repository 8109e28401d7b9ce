"""wildpose.engine, the training runner's parts: the learning-rate schedule and opening a run
folder (the resumable loop itself is exercised end to end in test_training)."""

from __future__ import annotations

import json

import pytest

from wildpose.engine import lr_at, open_run
from wildpose.settings import flatten_options
from wildpose.training import TrainConfig


def test_the_schedule_reads_the_optim_section():
    # warm-up over min(500, 100 // 20 + 1) = 6 steps, then a cosine to lr_final at the end
    cfg = TrainConfig.from_dict({"lr": 0.6, "lr_final": 0.1})
    assert lr_at(cfg, 0, 100) == pytest.approx(0.1)          # 0.6 * 1 / 6
    assert lr_at(cfg, 2, 100) == pytest.approx(0.3)          # 0.6 * 3 / 6: linear
    assert lr_at(cfg.optim, 6, 100) == pytest.approx(0.6)
    # half-way through the 94 cosine steps: the mean of lr and lr_final
    assert lr_at(cfg, 6 + 47, 100) == pytest.approx(0.35)
    assert lr_at(cfg, 100, 100) == pytest.approx(0.1)


def test_a_run_folder_with_a_flat_config_resumes_and_a_different_one_is_named(tmp_path):
    """Runs from before the sections wrote flat config.json files; they resume as the same
    config, and a difference is named by its dotted field."""
    cfg = TrainConfig.from_dict({"out_dir": str(tmp_path), "width": 64, "noise_max": 0.05})
    (tmp_path / "last.pt").write_bytes(b"")
    (tmp_path / "config.json").write_text(json.dumps(flatten_options(cfg.to_dict())))
    open_run(cfg, resume=True, hint="another folder")              # the same run: resumes
    assert json.loads((tmp_path / "config.json").read_text())["network"]["width"] == 64
    other = TrainConfig.from_dict({"out_dir": str(tmp_path), "width": 32, "noise_max": 0.05})
    with pytest.raises(ValueError, match=r"differs in network.width\)") as exc:
        open_run(other, resume=True, hint="another folder")
    assert "\n" not in str(exc.value)
