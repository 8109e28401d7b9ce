"""configs/ holds the recipe of every shipped model: each file, read as its method reads it,
is the training config the model file recorded when it was trained (run folders aside).

The model files recorded flat configs (``width``, not ``network.width``): a recipe's parsed
config, flattened (:func:`wildpose.settings.flatten_options`), must equal the recorded one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors import safe_open

from wildpose.settings import field_defaults, flatten_options
from wildpose.methods.ronchi import RonchiConfig
from wildpose.methods.wild import WildConfig
from wildpose.methods.zhou import ZhouConfig
from wildpose.methods.zhou_image import ZhouImageTrainConfig
from wildpose.retired import drop_retired
from wildpose.training import TrainConfig
from wildpose.zoo import available_models, model_path

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
#: Where a run is written and where its data are read: not part of the recipe.
PLACES = {"out_dir", "data_dir", "data_root", "name", "device", "precision",
          "checkpoint_minutes"}
CONFIG_CLASS = {None: TrainConfig, "ronchi": RonchiConfig, "zhou2017": ZhouConfig,
                "zhou2017-image": ZhouImageTrainConfig, "wild": WildConfig}


def stored_info(name: str) -> dict:
    """The model file's description exactly as written (retired options included)."""
    with safe_open(str(model_path(name)), framework="np") as f:
        return json.loads(f.metadata()["wildpose"])


def recipes() -> list[tuple[str, dict, Path]]:
    """(model or member name, its recorded train_config and method, its recipe file)."""
    out = []
    for name in available_models():
        info = stored_info(name)
        if info["architecture"] == "ensemble":  # one recipe per member, in the named folder
            for m in info["members"]:
                member = m["name"].removeprefix(f"{name}-")
                out.append((m["name"], m, CONFIGS / f"{name}-ensemble" / f"{member}.json"))
        else:
            out.append((name, info, CONFIGS / f"{name}.json"))
    return out


@pytest.mark.parametrize("name, info, recipe", recipes(), ids=lambda v: getattr(v, "name", v)
                         if isinstance(v, Path) else None)
def test_each_shipped_model_has_the_recipe_it_was_trained_with(name, info, recipe):
    assert recipe.is_file(), f"{name}: no recipe {recipe}"
    cls = CONFIG_CLASS[info.get("method")]
    parsed = flatten_options(cls.from_file(recipe).to_dict())
    # A field the model predates was trained as its default (as resuming assumes).
    recorded = {**flatten_options(field_defaults(cls)),
                **flatten_options(drop_retired(info["train_config"],
                                               getattr(cls, "RETIRED", {}), name))}
    differ = sorted(k for k in set(parsed) | set(recorded) - PLACES
                    if k not in PLACES and parsed.get(k) != recorded.get(k))
    assert not differ, f"{recipe.name} differs from {name}'s training in {differ}"


def test_configs_holds_only_the_shipped_recipes():
    expected = {r for _, _, r in recipes()}
    assert set(CONFIGS.rglob("*.json")) == expected


@pytest.mark.parametrize("name, info, recipe", recipes(), ids=lambda v: getattr(v, "name", v)
                         if isinstance(v, Path) else None)
def test_each_shipped_models_stored_config_loads_as_its_recipe(name, info, recipe):
    """The flat config a model file stored is read (flat keys mapped into the sections) to
    the very config its recipe gives, field by field."""
    cls = CONFIG_CLASS[info.get("method")]
    stored = cls.from_dict(drop_retired(info["train_config"], getattr(cls, "RETIRED", {}),
                                        name)).to_dict()
    recipe_cfg = cls.from_file(recipe).to_dict()
    for place in PLACES:
        stored.pop(place, None), recipe_cfg.pop(place, None)
    assert stored == recipe_cfg
