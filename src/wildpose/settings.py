"""Training configs: one base with typed parsing, nested sections and validation.

A method's config (``TrainConfig``, ``ZhouConfig``, ``RonchiConfig``, ...) is a dataclass
deriving from :class:`RunConfig`.  Groups of options that several methods share are nested
sections, each a small dataclass that checks its own fields when it is built:

* :class:`OptimConfig` (``cfg.optim``): AdamW's learning rate, final rate and weight decay;
* :class:`NetworkConfig` (``cfg.network``): the residual MLP's width, blocks and dropout;
* :class:`AugmentConfig` (``cfg.augment``): mirror, 2D noise and dropped joints.

:meth:`ConfigBase.from_dict` reads a JSON object in either form:

* nested: ``{"network": {"width": 512}, "epochs": 3}``, a section giving only some of its
  fields (the others keep the method's defaults), or
* flat, as every config and model file written before the sections existed is:
  ``{"width": 512, "epochs": 3}``.  **The flat-key mapping** is one rule: a key that is not a
  field of the config but is a field of exactly one of its sections is that section's field
  (``width`` -> ``network.width``, ``lr`` -> ``optim.lr``, ``flip_prob`` ->
  ``augment.flip_prob``); :func:`flat_keys` lists a config's mapping.  Dotted keys
  (``network.width``, as ``--set`` gives them) are read as nested ones.

Values are converted to the field types (:func:`typed_option`); a wrong type, an unknown
option or a value out of range is a one-line ValueError naming the option
(``training option network.width must be >= 1, got 0``).  :meth:`ConfigBase.to_dict`
writes the nested JSON form.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from .retired import drop_retired

__all__ = ["ConfigBase", "RunConfig", "OptimConfig", "NetworkConfig",
           "AugmentConfig", "require", "at_least", "checked_options", "typed_option",
           "field_defaults", "sections", "flat_keys", "nest_options", "merge_options",
           "flatten_options"]


def require(cfg: Any, **checks: tuple[bool, str]) -> None:
    """One-line ValueError naming the first option of ``cfg`` whose check fails, the rule
    and its value (checks are written ``option=(condition, rule)``).  Options of a section
    are named with its ``SECTION`` (``network.width``)."""
    prefix = getattr(cfg, "SECTION", "")
    for name, (ok, rule) in checks.items():
        if not ok:
            raise ValueError(f"training option {prefix + '.' if prefix else ''}{name} must be "
                             f"{rule}, got {getattr(cfg, name)!r}")


def at_least(cfg: Any, bound: float, *names: str) -> dict[str, tuple[bool, str]]:
    """The :func:`require` checks ``name >= bound`` of ``cfg``'s options ``names``."""
    return {name: (getattr(cfg, name) >= bound, f">= {bound}") for name in names}


# --------------------------------------------------------------------------- the sections
@dataclass
class OptimConfig:
    """AdamW and its schedule: a linear warm-up to ``lr``, then a cosine decay to
    ``lr_final`` (:func:`wildpose.engine.lr_at`)."""

    lr: float = 1e-3
    lr_final: float = 1e-5
    weight_decay: float = 0.0

    SECTION: ClassVar[str] = "optim"

    def __post_init__(self) -> None:
        require(self, lr=(self.lr > 0, "> 0"), lr_final=(self.lr_final >= 0, ">= 0"),
                weight_decay=(self.weight_decay >= 0, ">= 0"))


@dataclass
class NetworkConfig:
    """The residual MLP of the keypoint lifters (:class:`wildpose.models.lifter.LifterConfig`):
    ``blocks`` residual blocks of ``width`` units, with dropout."""

    width: int = 1024
    blocks: int = 2
    dropout: float = 0.25

    SECTION: ClassVar[str] = "network"

    def __post_init__(self) -> None:
        require(self, width=(self.width >= 1, ">= 1"), blocks=(self.blocks >= 0, ">= 0"),
                dropout=(0 <= self.dropout < 1, "in [0, 1)"))


@dataclass
class AugmentConfig:
    """Augmentation strengths of normalized 2D keypoints
    (:func:`wildpose.augment.augment_batch`).

    Attributes:
        flip_prob: probability of a horizontal mirror (x -> -x, left/right swapped).
        noise_max: 2D noise std is drawn per sample uniformly in [0, noise_max], in units of
            the normalized pose (1 = the pose's RMS joint distance from the root); detector
            errors of 8 px on a 100 px pose are 0.08.
        drop_prob: probability that each joint (other than the root) is marked missing.
        drop_limb_prob: probability that one group of joints (elbow+wrist, knee+ankle, or
            nose+head) is marked missing, as when a detector misses an occluded arm.
    """

    flip_prob: float = 0.5
    noise_max: float = 0.0
    drop_prob: float = 0.0
    drop_limb_prob: float = 0.0

    SECTION: ClassVar[str] = "augment"

    def __post_init__(self) -> None:
        require(self, flip_prob=(0 <= self.flip_prob <= 1, "in [0, 1]"),
                noise_max=(self.noise_max >= 0, ">= 0"),
                drop_prob=(0 <= self.drop_prob <= 1, "in [0, 1]"),
                drop_limb_prob=(0 <= self.drop_limb_prob <= 1, "in [0, 1]"))


# ------------------------------------------------------------------------------ the bases
@dataclass
class ConfigBase:
    """What every training config can do: be read from a JSON object or file (nested or
    flat, typed and checked) and be written as nested JSON."""

    #: The method's name: a config file's "method" key must be it (or absent).
    METHOD: ClassVar[str] = "lifter"
    #: Rejected options a stored config may still name, with the value that meant off
    #: (:mod:`wildpose.retired`).
    RETIRED: ClassVar[dict[str, Any]] = {}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        """The config of a JSON object or ``--set`` options (:func:`checked_options`)."""
        return cls(**checked_options(cls, d, cls.METHOD))

    @classmethod
    def from_file(cls, path: str | Path) -> Any:
        """The config of a JSON file; a one-line ValueError naming it if unreadable."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"training config {path}: {e}") from None

    def to_dict(self) -> dict[str, Any]:
        """The config as nested JSON values (lists for tuples), as ``config.json`` holds it."""
        return json.loads(json.dumps(asdict(self)))


@dataclass
class RunConfig(ConfigBase):
    """The options every method's run has: the optimizer, the seed, where to run, and how
    often ``last.pt`` is written.  ``precision="auto"`` lets each trainer pick its autocast
    (the keypoint lifters use bf16 on CPUs and GPUs that support it; the image network
    autocasts on GPUs only); ``"fp32"`` turns it off."""

    optim: OptimConfig = field(default_factory=OptimConfig)
    seed: int = 0
    device: str = "auto"                   # "auto": a GPU if there is one, else the CPU
    precision: str = "auto"
    checkpoint_minutes: float = 2.0

    def __post_init__(self) -> None:
        for name, default in sections(type(self)).items():
            if not isinstance(getattr(self, name), type(default)):
                raise ValueError(f"training option {name} must be a {type(default).__name__}"
                                 f", got {getattr(self, name)!r}")
        require(self, checkpoint_minutes=(self.checkpoint_minutes > 0, "> 0"))


# ----------------------------------------------------------------------------- parsing
def _default(f: Any) -> Any:
    if f.default is not MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not MISSING else MISSING


def sections(cls: type) -> dict[str, Any]:
    """The nested sections of config class ``cls``: field name -> its default value (a
    dataclass instance, holding the method's defaults)."""
    return {f.name: d for f in fields(cls) if is_dataclass(d := _default(f))}


def flat_keys(cls: type) -> dict[str, str]:
    """The flat-key mapping of config class ``cls``: each field of a section that is not a
    field of ``cls`` nor of another section -> its dotted name (``width`` ->
    ``network.width``)."""
    top = {f.name for f in fields(cls)}
    owners: dict[str, list[str]] = {}
    for name, sec in sections(cls).items():
        for f in fields(sec):
            owners.setdefault(f.name, []).append(f"{name}.{f.name}")
    return {k: v[0] for k, v in owners.items() if len(v) == 1 and k not in top}


def nest_options(cls: type, d: dict[str, Any]) -> dict[str, Any]:
    """``d`` with its flat and dotted section keys moved into nested dicts (a copy).

    A field given twice (``width`` and ``network.width``) is a one-line ValueError."""
    secs, flat = sections(cls), flat_keys(cls)
    out: dict[str, Any] = {}
    seen: dict[str, str] = {}
    for key, value in d.items():
        path = flat.get(key, key)
        head, dot, tail = path.partition(".")
        if not dot and head in secs and isinstance(value, dict):
            for sub, v in value.items():
                _put(out, seen, head, sub, v, f"{head}.{sub}")
        elif dot and head in secs:
            _put(out, seen, head, tail, value, key)
        else:
            out[key] = value
    return out


def merge_options(cls: type, *layers: dict[str, Any]) -> dict[str, Any]:
    """The nested options of config class ``cls`` that ``layers`` (dicts in any form of
    :func:`nest_options`) give, a later layer's field winning over an earlier one's: a
    config file, then flags, then ``--set``."""
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in nest_options(cls, layer).items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = {**out[key], **value}
            else:
                out[key] = value
    return out


def _put(out: dict, seen: dict, section: str, name: str, value: Any, given: str) -> None:
    path = f"{section}.{name}"
    if path in seen:
        raise ValueError(f"training option {path} is given twice ({seen[path]} and {given})")
    seen[path] = given
    out.setdefault(section, {})[name] = value


def flatten_options(d: dict[str, Any]) -> dict[str, Any]:
    """A nested config dict's leaves by their own names (``{"network": {"width": 8}}`` ->
    ``{"width": 8}``): the flat form, as configs written before the sections were.  Only
    for configs whose :func:`flat_keys` cover every section field."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):  # a section (no other option holds an object)
            out.update(v)
        else:
            out[k] = v
    return out


def checked_options(cls: type, d: dict[str, Any], method: str) -> dict[str, Any]:
    """The constructor arguments of config class ``cls`` of training method ``method`` for
    the options of dict ``d`` (nested, flat or dotted; see the module docstring).

    A ``"method"`` key must name that method and is dropped, as are options of
    ``cls.RETIRED`` (:mod:`wildpose.retired`) with their off value; any other key must be a
    field of ``cls`` or of one of its sections (one-line ValueError naming the unknown
    ones), holding a value of the field's type (:func:`typed_option`).  A section is built
    from the method's default section with the given fields replaced, so its own checks
    run."""
    if not isinstance(d, dict):
        raise ValueError(f"a {method} training config must be a JSON object, not "
                         f"{type(d).__name__}")
    d = drop_retired(d, cls.RETIRED, f"{method} training config")
    named = d.pop("method", method)  # configs may name their method
    if named != method:
        raise ValueError(f"this config is for method {named!r}, not {method!r}")
    d = nest_options(cls, d)
    types = {f.name: f.type for f in fields(cls)}
    secs = sections(cls)
    unknown = sorted(set(d) - set(types))
    for name, given in d.items():
        if name in secs:
            if not isinstance(given, dict):
                raise ValueError(f"{method} training option {name} must be an object of "
                                 f"{', '.join(f.name for f in fields(secs[name]))}")
            sub = {f.name: f.type for f in fields(secs[name])}
            unknown += sorted(f"{name}.{k}" for k in set(given) - set(sub))
    if unknown:
        raise ValueError(f"unknown {method} training option(s): {', '.join(unknown)}")
    out = {}
    for name, value in d.items():
        if name in secs:
            sec = secs[name]
            sub = {f.name: str(f.type) for f in fields(sec)}
            opts = {k: typed_option(f"{method} training option {name}.{k}", v, sub[k])
                    for k, v in value.items()}
            out[name] = replace(sec, **opts)
        else:
            out[name] = typed_option(f"{method} training option {name}", value,
                                     str(types[name]))
    return out


def typed_option(name: str, value: Any, annotation: str) -> Any:
    """``value`` (as JSON or ``--set`` gives it) converted to the field type ``annotation``
    ("int", "float", "str", "bool", "tuple[int, ...]", "tuple[str, ...]", or one of these
    "| None"); a one-line ValueError naming ``name`` if it is not one.  Other annotations
    pass the value through (their config checks it)."""
    kinds = [k.strip() for k in annotation.split("|")]
    if value is None and "None" in kinds:
        return None
    if kinds[0] not in _KINDS:
        return value
    accepts, convert, what = _KINDS[kinds[0]]
    if not accepts(value):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return convert(value)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return _is_int(v) or isinstance(v, float)


#: typed_option's field types: annotation -> (accepted values, conversion, what is expected).
#: A string field also takes a number (e.g. ``--set pairs_per_sample=8``).
_KINDS: dict[str, tuple[Any, Any, str]] = {
    "int": (lambda v: _is_int(v) or isinstance(v, float) and v.is_integer(), int, "an integer"),
    "float": (_is_number, float, "a number"),
    "bool": (lambda v: isinstance(v, bool), bool, "true or false"),
    "str": (lambda v: isinstance(v, str) or _is_number(v), str, "a string"),
    "tuple[int, ...]": (lambda v: isinstance(v, (list, tuple)) and all(map(_is_int, v)), tuple,
                        "a list of integers"),
    "tuple[str, ...]": (lambda v: isinstance(v, (list, tuple))
                        and all(isinstance(x, str) for x in v), tuple, "a list of strings"),
}


def field_defaults(cfg: Any) -> dict[str, Any]:
    """The JSON form of the defaults of dataclass ``cfg``'s fields (those that have one)."""
    out = {f.name: d for f in fields(cfg) if (d := _default(f)) is not MISSING}
    return json.loads(json.dumps({k: asdict(v) if is_dataclass(v) else v
                                  for k, v in out.items()}))
