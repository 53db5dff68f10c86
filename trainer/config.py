"""The training recipe as one dataclass tree, loaded from TOML and overridable from the command line.

A recipe file (assets/configs/*.toml) has one table per section below; every key is optional and
falls back to the dataclass default. A top-level `extends = "other.toml"` (relative to the file)
reads that recipe first, so the Table I recipes state only what differs. `--set section.key=value`
(value in TOML syntax, or a bare string) changes any field after the file is read, so one shipped
file serves every variant. validate() checks every field's range in one place, before any data or
weights are read, so a bad value costs one line, not hours.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import UserError
from core.model import DEFAULT_INPUT_SIZE, resolve_positions
from trainer.augment import AugmentSettings


@dataclass
class ModelSection:
    """build_model's arguments, exactly (train.py passes them as they are)."""

    width: int = 32
    preset: str = "baseline"
    input_size: tuple[int, int] = DEFAULT_INPUT_SIZE  # crop (width, height), as OpenCV orders sizes
    num_joints: int = 17
    attention_init_scale: float = 0.0  # gamma of new attention modules; 0 = identity (the baseline's output)


@dataclass
class DataSection:
    train_ann: str = ""  # COCO person_keypoints_train2017.json
    train_images: str = ""  # folder of train2017 images
    val_ann: str = ""  # person_keypoints_val2017.json ("" = no evaluation during training)
    val_images: str = ""
    val_detections: str = ""  # COCO results file of person boxes ("" = ground-truth boxes)
    detection_score_threshold: float = 0.0  # HRNet's IMAGE_THRE
    workers: int = 4
    pin_memory: bool = True


@dataclass
class AugmentSection(AugmentSettings):
    """The augmentation the dataset applies (trainer.augment.AugmentSettings), and the target's σ."""

    sigma: float = 2.0  # Gaussian target σ in heatmap pixels


@dataclass
class SolverSection:
    optimizer: str = "adam"  # adam | adamw | sgd
    lr: float = 1e-3  # the learning rate used (scaled only with auto_scale_lr)
    base_batch: int = 0  # the global batch (all ranks together) `lr` was tuned for; 0 = not stated
    auto_scale_lr: bool = False  # lr × global batch / base_batch (Goyal et al.; mmengine's opt-in)
    warmup_iters: int = 0  # linear warm-up over the first N iterations (mmpose: 500); 0 = none
    warmup_ratio: float = 0.001  # the warm-up starts at lr × warmup_ratio (mmpose's value)
    warmup_max_fraction: float = 0.1  # a short run's warm-up never outlasts this share of its iterations
    lr_steps: tuple[int, ...] = (170, 200)
    lr_factor: float = 0.1
    epochs: int = 210
    batch_size: int = 32  # per process (GPU)
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd only
    grad_clip: float = 0.0  # max gradient norm; 0 disables clipping
    amp: bool = True  # fp16 + GradScaler on CUDA; bf16 autocast on CPU when cpu_bf16 is set
    cpu_bf16: bool = False
    channels_last: bool = True  # on CUDA only
    sync_bn: bool = False  # SyncBatchNorm across DDP ranks (CUDA/NCCL only)


@dataclass
class ParamsSection:
    """Parameter groups: attention parameters (gamma included) get their own learning-rate multiplier
    and weight decay; parameters whose names match `freeze` (fnmatch patterns, minus those matching
    `freeze_except`) are not trained in the first `freeze_epochs` epochs."""

    attention_lr_mult: float = 1.0
    attention_weight_decay: float = 0.0
    freeze: tuple[str, ...] = ()  # e.g. ["*"]: everything ...
    freeze_except: tuple[str, ...] = ()  # ... except e.g. ["attention.*", "final_layer.*"]
    freeze_epochs: int = 0


@dataclass
class InitSection:
    weights: str = ""  # a pose checkpoint (ours, official HRNet or mmpose); attention modules may be new
    imagenet: str = ""  # an ImageNet HRNet classification checkpoint: backbone keys that match


@dataclass
class EvalSection:
    every: int = 10  # evaluate every K epochs (and after the last one); 0 disables
    before_training: bool = False  # also score the starting weights (a fine-tune's starting AP)
    flip: bool = True
    batch_size: int = 64
    decode: str = "argmax"  # argmax | dark
    in_vis_threshold: float = 0.2  # HRNet's IN_VIS_THRE for rescoring
    oks_threshold: float = 0.9  # HRNet's OKS_THRE for OKS-NMS


@dataclass
class RunSection:
    out_dir: str = "runs/train"
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    seed: int = 0
    log_every: int = 50  # iterations between progress lines and TensorBoard loss points
    save_every: int = 1  # write latest.pt every K epochs (and after the last); best.pt whenever AP improves
    progress: bool = True  # tqdm bars on rank 0
    tensorboard: bool = True
    max_iters_per_epoch: int = 0  # > 0 cuts epochs short (smoke tests, quick experiments)


@dataclass
class TrainConfig:
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    augment: AugmentSection = field(default_factory=AugmentSection)
    solver: SolverSection = field(default_factory=SolverSection)
    params: ParamsSection = field(default_factory=ParamsSection)
    init: InitSection = field(default_factory=InitSection)
    eval: EvalSection = field(default_factory=EvalSection)
    run: RunSection = field(default_factory=RunSection)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (tuples become lists) for checkpoints and logs."""
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any], origin: str = "config") -> TrainConfig:
        config = cls()
        config.update(data, origin)
        config.validate()
        return config

    def update(self, data: dict[str, Any], origin: str = "config") -> None:
        """Assign every `[section] key = value` of a parsed recipe (checked, not yet validated)."""
        for section_name, values in data.items():
            section = _section(self, section_name, origin)
            if not isinstance(values, dict):
                raise UserError(f"{origin}: [{section_name}] must be a table of settings")
            for key, value in values.items():
                _assign(section, section_name, key, value, origin)

    def override(self, assignment: str) -> None:
        """Apply one `section.key=value`; the value is read as TOML, else as a plain string."""
        name, sep, text = assignment.partition("=")
        section_name, dot, key = name.strip().partition(".")
        if not sep or not dot:
            raise UserError(f"--set expects section.key=value (e.g. solver.lr=5e-4), got {assignment!r}")
        section = _section(self, section_name, "--set")
        value = _parse_value(text.strip())
        hints = typing.get_type_hints(type(section))
        if hints.get(key) is str and not isinstance(value, str):
            value = text.strip()  # a path or name that happens to read as a number stays text
        _assign(section, section_name, key, value, "--set")

    def set(self, name: str, value: Any, origin: str = "command line") -> None:
        """Set `section.key` to an already-typed value (checked like a TOML value)."""
        section_name, _, key = name.partition(".")
        _assign(_section(self, section_name, origin), section_name, key, value, origin)

    def validate(self) -> None:
        """Every field's range, checked at load: the first violation is one UserError line."""
        for section in dataclasses.fields(self):
            for key, value in dataclasses.asdict(getattr(self, section.name)).items():
                if isinstance(value, float) and not math.isfinite(value):
                    raise UserError(f"{section.name}.{key} must be a finite number, got {value}")
        m, d, a, s, p, e, r = (
            self.model,
            self.data,
            self.augment,
            self.solver,
            self.params,
            self.eval,
            self.run,
        )
        checks = [
            (m.width > 0, "model.width must be positive"),
            (
                all(v > 0 and v % 32 == 0 for v in m.input_size),
                "model.input_size: width and height must be positive multiples of 32 (HRNet's lowest branch)",
            ),
            (m.num_joints > 0, "model.num_joints must be positive"),
            (d.workers >= 0, "data.workers must be 0 or more"),
            (0.0 <= d.detection_score_threshold <= 1.0, "data.detection_score_threshold must lie in [0, 1]"),
            (a.sigma > 0, "augment.sigma must be positive (σ of the Gaussian targets, in heatmap pixels)"),
            (a.rotation >= 0, "augment.rotation must be 0 or more degrees"),
            (0.0 <= a.rotation_prob <= 1.0, "augment.rotation_prob must lie in [0, 1]"),
            (0.0 <= a.scale < 1.0, "augment.scale must lie in [0, 1)"),
            (0.0 <= a.half_body_prob <= 1.0, "augment.half_body_prob must lie in [0, 1]"),
            (a.half_body_min_joints >= 0, "augment.half_body_min_joints must be 0 or more"),
            (s.optimizer in ("adam", "adamw", "sgd"), "solver.optimizer must be adam, adamw or sgd"),
            (s.lr > 0, "solver.lr must be positive"),
            (s.base_batch >= 0, "solver.base_batch must be 0 (not stated) or a positive global batch"),
            (
                s.base_batch > 0 or not s.auto_scale_lr,
                "solver.auto_scale_lr needs solver.base_batch: the global batch solver.lr was tuned for",
            ),
            (s.warmup_iters >= 0, "solver.warmup_iters must be 0 or more"),
            (0.0 < s.warmup_ratio <= 1.0, "solver.warmup_ratio must lie in (0, 1]"),
            (0.0 < s.warmup_max_fraction <= 1.0, "solver.warmup_max_fraction must lie in (0, 1]"),
            (all(step > 0 for step in s.lr_steps), "solver.lr_steps must be positive epochs"),
            (list(s.lr_steps) == sorted(set(s.lr_steps)), "solver.lr_steps must be strictly increasing"),
            (0.0 < s.lr_factor <= 1.0, "solver.lr_factor must lie in (0, 1]"),
            (s.epochs > 0, "solver.epochs must be positive"),
            (s.batch_size > 0, "solver.batch_size must be positive"),
            (s.weight_decay >= 0, "solver.weight_decay must be 0 or more"),
            (0.0 <= s.momentum < 1.0, "solver.momentum must lie in [0, 1)"),
            (s.grad_clip >= 0, "solver.grad_clip must be 0 (off) or a positive gradient norm"),
            (p.attention_lr_mult > 0, "params.attention_lr_mult must be positive"),
            (p.attention_weight_decay >= 0, "params.attention_weight_decay must be 0 or more"),
            (p.freeze_epochs >= 0, "params.freeze_epochs must be 0 or more"),
            (
                not p.freeze_epochs or p.freeze,
                "params.freeze_epochs is set but params.freeze names no parameters",
            ),
            (e.every >= 0, "eval.every must be 0 or more"),
            (e.batch_size > 0, "eval.batch_size must be positive"),
            (e.decode in ("argmax", "dark"), "eval.decode must be argmax or dark"),
            (0.0 <= e.in_vis_threshold <= 1.0, "eval.in_vis_threshold must lie in [0, 1]"),
            (0.0 < e.oks_threshold <= 1.0, "eval.oks_threshold must lie in (0, 1] (an OKS)"),
            (0 <= r.seed < 2**32, "run.seed must be a whole number from 0 to 2^32 - 1 (NumPy's seed range)"),
            (r.log_every >= 1, "run.log_every must be 1 or more"),
            (r.save_every >= 1, "run.save_every must be 1 or more"),
            (r.max_iters_per_epoch >= 0, "run.max_iters_per_epoch must be 0 (whole epochs) or more"),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(message)
        resolve_positions(m.preset)  # an unknown preset is one line now, not after the data is read


# Fields a resumed run takes from its checkpoint: changing them would not continue that run. The rest
# (paths, epochs, evaluation, logging, devices, amp) may differ, e.g. to extend a run or move it.
RESUME_FIXED = ("model", "params", "augment", "solver")
RESUME_FREE = ("solver.epochs", "solver.amp", "solver.cpu_bf16", "solver.channels_last", "solver.sync_bn")


def check_resume(config: TrainConfig, saved: dict[str, Any], path: str | Path) -> None:
    """Refuse a resume whose model or recipe differs from the checkpoint's (e.g. --width or --lr):
    the checkpoint's values would win silently otherwise."""
    current = config.to_dict()
    for section in RESUME_FIXED:
        for key, value in current[section].items():
            name = f"{section}.{key}"
            if name in RESUME_FREE or key not in saved.get(section, {}):
                continue
            if saved[section][key] != value:
                raise UserError(
                    f"--resume continues {path} with its own {name} = {saved[section][key]!r}, not "
                    f"{value!r}; drop that option, or start a new run from its weights with --init"
                )


def resume_settings(config: TrainConfig, saved: dict[str, Any]) -> list[str]:
    """Settings a checkpoint implies by predating them, applied to `config` so that the resumed run
    continues the same curve; one line for each. Before solver.auto_scale_lr existed, every recipe
    with a base_batch scaled its lr."""
    solver = saved.get("solver", {})
    if "auto_scale_lr" not in solver and solver.get("base_batch") and not config.solver.auto_scale_lr:
        config.solver.auto_scale_lr = True
        return ["--resume: the checkpoint predates solver.auto_scale_lr and scaled its lr: it still does"]
    return []


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Defaults, then the TOML file (if any), then each `section.key=value` override in order."""
    if path is None:
        config = TrainConfig()
    else:
        config = TrainConfig()
        for file, data in _recipe_chain(Path(path)):
            config.update(data, origin=str(file))
    for assignment in overrides:
        config.override(assignment)
    config.validate()
    return config


def _recipe_chain(path: Path, seen: tuple[Path, ...] = ()) -> list[tuple[Path, dict[str, Any]]]:
    """The recipe files to apply in order: what `extends` names first, then the file itself."""
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    if path.resolve() in seen:
        raise UserError(f"{path}: `extends` loops back to itself")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: not valid TOML ({error})") from None
    parent = data.pop("extends", None)
    if parent is None:
        return [(path, data)]
    if not isinstance(parent, str):
        raise UserError(f"{path}: extends must be the path of another recipe file")
    return [*_recipe_chain(path.parent / parent, (*seen, path.resolve())), (path, data)]


def _section(config: TrainConfig, name: str, origin: str) -> Any:
    names = [f.name for f in dataclasses.fields(config)]
    if name not in names:
        raise UserError(f"{origin}: unknown section {name!r}; sections are {', '.join(names)}")
    return getattr(config, name)


def _assign(section: Any, section_name: str, key: str, value: Any, origin: str) -> None:
    fields = {f.name: f for f in dataclasses.fields(section)}
    if key not in fields:
        raise UserError(
            f"{origin}: unknown setting {section_name}.{key}; [{section_name}] has {', '.join(fields)}"
        )
    hint = typing.get_type_hints(type(section))[key]
    setattr(section, key, _coerce(value, hint, f"{section_name}.{key}", origin))


def _coerce(value: Any, hint: Any, name: str, origin: str) -> Any:
    """Check and convert a TOML value to the field's type (ints widen to floats, lists to tuples)."""
    bad = UserError(f"{origin}: {name} must be {_describe(hint)}, got {value!r}")
    if hint is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise bad
        return value
    if typing.get_origin(hint) is tuple:
        if isinstance(value, str) and "x" in value and hint == tuple[int, int]:  # "192x256"
            value = value.lower().split("x")
            try:
                value = [int(v) for v in value]
            except ValueError:
                raise bad from None
        if not isinstance(value, list | tuple):
            raise bad
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], name, origin) for v in value)
        if len(value) != len(args):
            raise bad
        return tuple(_coerce(v, a, name, origin) for v, a in zip(value, args, strict=True))
    raise bad  # pragma: no cover - every field type is handled above


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_describe(args[0])}"
        return f"a list of {len(args)} {' and '.join(_describe(a) for a in dict.fromkeys(args))} values"
    if isinstance(hint, type | types.GenericAlias):
        return {"bool": "true or false", "int": "an integer", "float": "a number", "str": "a string"}.get(
            getattr(hint, "__name__", str(hint)), str(hint)
        )
    return str(hint)  # pragma: no cover


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word such as a path or a preset name


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
