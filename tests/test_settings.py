"""The config base: nested sections, the flat-key mapping, checks at construction, JSON round
trips, and the CLI offering each method its own options (resuming a run folder whose
config.json is flat: test_engine)."""

from __future__ import annotations

import json

import pytest

from wildpose.cli import build_parser, main
from wildpose.methods.ronchi import RonchiConfig
from wildpose.methods.wild import WildConfig
from wildpose.methods.zhou import ZhouConfig
from wildpose.methods.zhou_image import ZhouImageTrainConfig
from wildpose.settings import (AugmentConfig, NetworkConfig, OptimConfig, flat_keys,
                               flatten_options, sections)
from wildpose.training import TrainConfig

METHODS = {"lifter": TrainConfig, "zhou": ZhouConfig, "ronchi": RonchiConfig,
           "zhou-image": ZhouImageTrainConfig, "wild": WildConfig}
NESTED = [TrainConfig, ZhouConfig, RonchiConfig, ZhouImageTrainConfig]


def test_a_section_given_in_part_keeps_the_methods_other_defaults():
    cfg = TrainConfig.from_dict({"network": {"width": 512}, "epochs": 3})
    assert cfg.network == NetworkConfig(width=512, blocks=2, dropout=0.25)
    assert cfg.epochs == 3 and cfg.optim == OptimConfig(lr=1e-3, lr_final=1e-5)
    # Ronchi's network has no dropout by default, Zhou's augmentation adds noise and drops
    assert RonchiConfig.from_dict({"network": {"blocks": 3}}).network.dropout == 0.0
    assert ZhouConfig.from_dict({"augment": {"flip_prob": 0.0}}).augment == AugmentConfig(
        flip_prob=0.0, noise_max=0.01, drop_prob=0.01, drop_limb_prob=0.1)


def test_the_flat_key_mapping():
    """The one rule (a key that is a field of one section only is that section's field),
    written out by hand for the lifter and the image network."""
    assert flat_keys(TrainConfig) == {
        "lr": "optim.lr", "lr_final": "optim.lr_final", "weight_decay": "optim.weight_decay",
        "width": "network.width", "blocks": "network.blocks", "dropout": "network.dropout",
        "flip_prob": "augment.flip_prob", "noise_max": "augment.noise_max",
        "drop_prob": "augment.drop_prob", "drop_limb_prob": "augment.drop_limb_prob",
        "error_transplant": "augment.error_transplant", "bone_scale": "augment.bone_scale",
        "speed_steps": "augment.speed_steps"}
    assert {k: v for k, v in flat_keys(ZhouImageTrainConfig).items()
            if not v.startswith("optim.")} == {
        "image_size": "network.image_size", "stacks": "network.stacks",
        "width": "network.width", "hourglass_depth": "network.hourglass_depth",
        "depth_blocks": "network.depth_blocks", "depth_pool": "network.depth_pool",
        "sigma": "network.sigma", "flip_prob": "augment.flip_prob",
        "rotate_deg": "augment.rotate_deg", "scale_jitter": "augment.scale_jitter"}


@pytest.mark.parametrize("cls", NESTED, ids=lambda c: c.__name__)
def test_every_section_field_has_a_flat_name(cls):
    """Flat configs (every one written before the sections) can set every field."""
    every = {f"{s}.{name}" for s, sec in sections(cls).items() for name in vars(sec)}
    assert set(flat_keys(cls).values()) == every


def test_flat_nested_and_dotted_keys_read_alike():
    flat = {"width": 64, "lr": 0.01, "noise_max": 0.1, "speed_steps": [3, 5], "window": 9,
            "window_step": 1}
    nested = {"network": {"width": 64}, "optim": {"lr": 0.01},
              "augment": {"noise_max": 0.1, "speed_steps": [3, 5]}, "window": 9,
              "window_step": 1}
    dotted = {"network.width": 64, "optim.lr": 0.01, "augment.noise_max": 0.1,
              "augment.speed_steps": [3, 5], "window": 9, "window_step": 1}
    a, b, c = (TrainConfig.from_dict(d) for d in (flat, nested, dotted))
    assert a == b == c
    assert (a.network.width, a.optim.lr, a.augment.speed_steps) == (64, 0.01, (3, 5))
    with pytest.raises(ValueError, match="network.width is given twice") as exc:
        TrainConfig.from_dict({"width": 64, "network": {"width": 32}})
    assert "\n" not in str(exc.value)


def test_to_dict_writes_nested_json_that_reads_back_to_the_same_config(tmp_path):
    cfg = TrainConfig.from_dict({"width": 96, "lr": 5e-4, "bone_scale": 0.1, "inputs": "gt",
                                 "subjects": [1, 6], "window": 5, "speed_steps": [1, 2]})
    d = cfg.to_dict()
    assert d["network"] == {"width": 96, "blocks": 2, "dropout": 0.25}
    assert d["optim"] == {"lr": 5e-4, "lr_final": 1e-5, "weight_decay": 0.0}
    assert d["augment"]["bone_scale"] == 0.1 and d["augment"]["speed_steps"] == [1, 2]
    assert d["subjects"] == [1, 6] and "width" not in d and "lr" not in d
    path = tmp_path / "c.json"
    path.write_text(json.dumps(d))
    assert TrainConfig.from_file(path) == cfg
    assert TrainConfig.from_dict(flatten_options(d)) == cfg   # and its flat form too
    for cls in NESTED:
        assert cls.from_dict(json.loads(json.dumps(cls().to_dict()))) == cls()


@pytest.mark.parametrize("build, message", [
    (lambda: NetworkConfig(width=0), "training option network.width must be >= 1, got 0"),
    (lambda: NetworkConfig(dropout=1.0), r"network.dropout must be in \[0, 1\)"),
    (lambda: OptimConfig(lr=0), "training option optim.lr must be > 0, got 0"),
    (lambda: AugmentConfig(flip_prob=2), r"augment.flip_prob must be in \[0, 1\], got 2"),
    (lambda: TrainConfig.from_dict({"width": 0}), "network.width must be >= 1, got 0"),
    (lambda: TrainConfig.from_dict({"network": {"width": 0}}), "network.width must be >= 1"),
    (lambda: TrainConfig.from_dict({"bone_scale": 1.5}), r"augment.bone_scale must be in"),
    (lambda: RonchiConfig.from_dict({"network.width": "wide"}),
     "ronchi training option network.width must be an integer, got 'wide'"),
    (lambda: ZhouConfig.from_dict({"network": {"depth": 3}}),
     r"unknown zhou training option\(s\): network.depth"),
    (lambda: ZhouConfig.from_dict({"network": 3}), "zhou training option network must be an "
                                                  "object of width, blocks, dropout"),
    (lambda: TrainConfig(network={"width": 8}), "training option network must be a "
                                                "NetworkConfig"),
    (lambda: ZhouImageTrainConfig.from_dict({"rotate_deg": 200}),
     r"augment.rotate_deg must be in \[0, 180\] degrees"),
    (lambda: ZhouImageTrainConfig.from_dict({"network": {"width": 15}}),
     "zhou-image network options: width must be even"),
    (lambda: RonchiConfig(w_limb=-1.0), "training option w_limb must be >= 0, got -1.0"),
    (lambda: ZhouConfig(wild_stride=0), "training option wild_stride must be >= 1, got 0"),
    (lambda: ZhouImageTrainConfig(num_threads=-2),
     "training option num_threads must be >= 0, got -2"),
])
def test_bad_values_are_refused_at_construction_naming_the_field(build, message):
    with pytest.raises(ValueError, match=message) as exc:
        build()
    assert "\n" not in str(exc.value)


def _train_flags(method: str) -> set[str]:
    parser = build_parser(["train", "--method", method])
    train = parser._subparsers._group_actions[0].choices["train"]
    return {s for a in train._actions for s in a.option_strings}


def test_the_cli_offers_each_method_its_own_options():
    lifter, zhou, ronchi, image, wild = (_train_flags(m) for m in METHODS)
    shared = {"--lr", "--lr-final", "--weight-decay", "--seed", "--device", "--out-dir"}
    assert shared <= lifter & zhou & ronchi & image & wild
    assert {"--width", "--blocks", "--dropout", "--noise-max", "--drop-limb-prob"} \
        <= lifter & zhou & ronchi
    assert {"--window", "--speed-steps", "--bone-scale", "--error-transplant"} <= lifter
    assert not {"--window", "--speed-steps", "--error-transplant"} & (zhou | ronchi | image)
    assert {"--lambda-geo", "--stage1-epochs", "--batch-3d", "--wild-stride"} <= zhou
    assert {"--stride", "--tau-mm", "--supervision"} <= ronchi and "--stride" not in zhou
    assert {"--image-size", "--hourglass-depth", "--sigma", "--rotate-deg"} <= image
    assert not {"--noise-max", "--blocks", "--dropout"} & image
    assert {"--jitter-mm", "--flip-prob", "--steps-per-epoch"} <= wild


@pytest.mark.parametrize("method, flag", [("zhou", "--stride"), ("lifter", "--lambda-geo"),
                                          ("zhou-image", "--noise-max"),
                                          ("ronchi", "--window")])
def test_a_flag_the_method_does_not_have_is_refused_in_one_line(method, flag, capsys):
    assert main(["train", "--method", method, flag, "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and flag in err and f"training method {method}" in err


def test_flags_set_section_fields_over_a_config_file(tmp_path, monkeypatch):
    """A flat flag (--width) overrides a nested config file's field, --set a dotted one."""
    import wildpose.cli as cli

    seen = {}
    real = cli._trainer
    monkeypatch.setattr(cli, "_trainer", lambda m: (real(m)[0],
                                                    lambda cfg, resume: seen.update(cfg=cfg)))
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"network": {"width": 128, "blocks": 3}, "epochs": 4}))
    assert main(["train", "--config", str(path), "--width", "64",
                 "--set", "augment.noise_max=0.2", "lr=0.01"]) == 0
    cfg = seen["cfg"]
    assert cfg.network == NetworkConfig(width=64, blocks=3, dropout=0.25) and cfg.epochs == 4
    assert cfg.augment.noise_max == 0.2 and cfg.optim.lr == 0.01
