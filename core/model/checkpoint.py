"""Reading and writing model checkpoints: ours, the official HRNet's, and mmpose's.

Our format is a dict that loads with `torch.load(weights_only=True)`:
    {"format": "attention-hrnet-pose", "version": 1, "config": ModelConfig.to_dict(),
     "state_dict": {...}, "meta": {...plain types}[, "training": {...}]}
so loading never asks the user to repeat width, preset, input size or joints. The optional
"training" entry is a trainer's resumable state (optimiser, scheduler, scaler, RNG: tensors allowed);
loading a model ignores it.

Also read: the official HRNet pose checkpoints (a plain state dict, possibly wrapped in
{"state_dict": ...} and with DataParallel's "module." prefix) and mmpose top-down HRNet checkpoints
(`backbone.*` plus `keypoint_head.final_layer.*` in 0.x or `head.final_layer.*` in 1.x, wrapped in
{"state_dict": ...}). For those the width comes from `transition1.0.0.weight`, the joints from
`final_layer.weight`, and the input size defaults to 192×256.

Every problem (missing file, not a checkpoint, a pickle that weights_only refuses, weights that do not
fit) is a one-line UserError. numpy arrays and scalars in a checkpoint's metadata (mmpose 1.x keeps
dataset metadata there) are data, not code, so they are added to weights_only's allowlist; any other
object is refused.
"""

from __future__ import annotations

import importlib
import os
import pickletools
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from core.atomic import atomic_path
from core.errors import UserError
from core.model.attention import Position, format_positions, preset_for_positions
from core.model.hrnet import DEFAULT_INPUT_SIZE, ModelConfig, PoseHRNet

FORMAT = "attention-hrnet-pose"
VERSION = 1

# Globals numpy needs to rebuild arrays, scalars and dtypes: data only, never a callable of the user's.
_NUMPY_GLOBALS = {
    "numpy.core.multiarray._reconstruct": ("numpy._core.multiarray", "_reconstruct"),
    "numpy._core.multiarray._reconstruct": ("numpy._core.multiarray", "_reconstruct"),
    "numpy.core.multiarray.scalar": ("numpy._core.multiarray", "scalar"),
    "numpy._core.multiarray.scalar": ("numpy._core.multiarray", "scalar"),
    "numpy.ndarray": ("numpy", "ndarray"),
    "numpy.dtype": ("numpy", "dtype"),
}
_ATTENTION_KEY = re.compile(r"^attention\.s(\d+)b(\d+)\.")


@dataclass
class LoadedCheckpoint:
    model: PoseHRNet
    source_format: str  # "ours", "official" or "mmpose"
    meta: dict
    path: Path
    decode: str = "argmax"  # the heatmap decoder the weights were trained for (registry entries say)
    name: str | None = None  # the registry name it was loaded by, if any


@dataclass(frozen=True)
class WeightsSummary:
    """What a state dict looks like, for messages: None where it cannot be told."""

    width: int | None
    positions: tuple[Position, ...]
    num_joints: int | None

    def describe(self) -> str:
        width = f"width {self.width}" if self.width else "no HRNet transition1 (width unknown)"
        positions = format_positions(self.positions) or "none"
        joints = f"{self.num_joints} joints" if self.num_joints else "no final_layer (joints unknown)"
        return f"{width}, attention positions [{positions}], {joints}"


# ---- writing ------------------------------------------------------------------------------------


def _check_plain(value, where: str = "meta") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: keys must be strings, got {key!r}")
            _check_plain(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
    elif not (value is None or isinstance(value, str | int | float | bool)):
        raise TypeError(f"{where}: {type(value).__name__} is not a plain type that weights_only=True loads")


def _unwrap(model: nn.Module) -> PoseHRNet:
    """The PoseHRNet inside DistributedDataParallel / torch.compile wrappers."""
    for attribute in ("module", "_orig_mod"):
        inner = getattr(model, attribute, None)
        if isinstance(inner, nn.Module):
            return _unwrap(inner)
    if not isinstance(model, PoseHRNet):
        raise TypeError(f"expected a PoseHRNet, got {type(model).__name__}")
    return model


def save_checkpoint(
    model: nn.Module, path: str | os.PathLike, extra: dict | None = None, training: dict | None = None
) -> Path:
    """Write our format atomically, so a crash mid-save never spoils the previous checkpoint.

    `extra` becomes the meta: plain types only, so `info` can show it. `training` (a trainer's
    resumable state) may also hold tensors, and whatever else `torch.load(weights_only=True)` reads
    back (optimiser and scheduler state dicts).
    """
    model = _unwrap(model)
    meta = dict(extra or {})
    _check_plain(meta)
    data = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": meta,
    }
    if training is not None:
        data["training"] = training
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(data, tmp)
    return path


# ---- reading the file ---------------------------------------------------------------------------


def _numpy_allowlist() -> list:
    """(object, pickled name) pairs that rebuild numpy arrays, scalars and dtypes: data, never code."""
    import numpy as np

    pairs = [(getattr(importlib.import_module(m), a), name) for name, (m, a) in _NUMPY_GLOBALS.items()]
    return pairs + [getattr(np.dtypes, name) for name in dir(np.dtypes) if name.endswith("DType")]


def _refused_globals(path: Path, error: Exception) -> list[str]:
    """Names of the globals weights_only refused; [] when the file is no checkpoint at all."""
    if zipfile.is_zipfile(path):
        try:
            return list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
        except Exception:  # a zip archive, but not one written by torch.save
            return []
    # The legacy (pre-1.6) format and plain pickles name only the first refused global, in the error
    # text: "Unsupported global: GLOBAL x.y" or "unsupported GLOBAL posix.system whose module ...".
    named = re.findall(r"(?i)unsupported (?:global: )?GLOBAL ([\w.]+)", str(error))
    return named or _pickled_globals(path)


def _pickled_globals(path: Path) -> list[str]:
    """The globals named by the complete pickles a file starts with, read with pickletools (nothing
    is executed): what a pickle of protocol 4 or 5 refers to, where weights_only's unpickler only
    says "Unsupported operand". [] for anything that is no pickle."""
    names: list[str] = []
    with open(path, "rb") as file:
        while True:
            found, strings = [], []
            try:
                for opcode, arg, _ in pickletools.genops(file):
                    if opcode.name in ("GLOBAL", "INST"):
                        found.append(str(arg).replace(" ", "."))
                    elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                        found.append(".".join(strings[-2:]))
                    if isinstance(arg, str):
                        strings.append(arg)
            except Exception:  # not (or no longer) a pickle: what came before its end counts
                return names
            names += found


def _is_numpy(name: str) -> bool:
    return name in _NUMPY_GLOBALS or (name.startswith("numpy.dtypes.") and name.endswith("DType"))


def read_checkpoint_file(path: str | os.PathLike):
    """torch.load(weights_only=True) with every failure turned into one clear line."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"checkpoint not found: {path}")
    if not path.is_file():
        raise UserError(f"checkpoint {path} is not a file")
    # Anything torch.load trips over in arbitrary bytes (UnpicklingError, KeyError, IndexError, ...).
    load_errors = Exception
    try:
        return _quiet_load(path)
    except load_errors as error:
        refused = _refused_globals(path, error)
        if not refused:
            raise UserError(
                f"{path} is not a PyTorch checkpoint: torch.load cannot read it ({_sniff(path)})"
            ) from None
    if refused and all(_is_numpy(name) for name in refused):
        try:
            with torch.serialization.safe_globals(_numpy_allowlist()):
                return _quiet_load(path)
        except load_errors as error:
            refused = [name for name in _refused_globals(path, error) if not _is_numpy(name)]
    what = ", ".join(name for name in refused if not _is_numpy(name)) or "an object that is not plain data"
    raise UserError(
        f"{path}: refused as unsafe: torch.load(weights_only=True) will not unpickle {what}, and pickled "
        "objects can run code when loaded; re-save only the state dict (plain tensors) from a trusted copy"
    )


def _quiet_load(path: Path):
    """torch.load(weights_only=True), without its warnings about a pickle protocol it did not write
    (a file it then refuses or reads is reported by the caller, in one line)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
        return torch.load(path, map_location="cpu", weights_only=True)


def _sniff(path: Path) -> str:
    """A few words on what a file that torch.load rejects seems to be."""
    with open(path, "rb") as file:
        head = file.read(512)
    if not head:
        return "the file is empty"
    if head.startswith(b"\xff\xd8\xff"):
        return "it is a JPEG image"
    if head.startswith(b"\x89PNG"):
        return "it is a PNG image"
    if zipfile.is_zipfile(path):
        return "a zip archive not written by torch.save"
    try:
        head.decode("utf-8")
        return "it looks like text"
    except UnicodeDecodeError:
        return "unrecognised binary data"


# ---- understanding what was read ----------------------------------------------------------------


def summarize_weights(state_dict: dict) -> WeightsSummary:
    transition = state_dict.get("transition1.0.0.weight")
    final = state_dict.get("final_layer.weight")
    positions = set()
    for key in state_dict:
        match = _ATTENTION_KEY.match(key)
        if match:
            positions.add((int(match[1]), int(match[2])))
    return WeightsSummary(
        width=int(transition.shape[0]) if isinstance(transition, torch.Tensor) and transition.ndim else None,
        positions=tuple(sorted(positions)),
        num_joints=int(final.shape[0]) if isinstance(final, torch.Tensor) and final.ndim else None,
    )


def _is_state_dict(obj) -> bool:
    return (
        isinstance(obj, dict)
        and bool(obj)
        and all(isinstance(k, str) for k in obj)
        and any(isinstance(v, torch.Tensor) for v in obj.values())
    )


def _strip_prefix(state_dict: dict, prefix: str) -> dict:
    if state_dict and all(k.startswith(prefix) for k in state_dict):
        return {k[len(prefix) :]: v for k, v in state_dict.items()}
    return state_dict


def mmpose_to_official(state_dict: dict) -> dict:
    """mmpose key names -> the official ones: drop `backbone.`, the head's final conv -> final_layer."""
    result = {}
    for key, value in state_dict.items():
        if key.startswith("backbone."):
            key = key[len("backbone.") :]
        else:
            for head in ("keypoint_head.final_layer.", "head.final_layer."):
                if key.startswith(head):
                    key = "final_layer." + key[len(head) :]
        result[key] = value
    return result


def external_state_dict(obj, path: Path) -> tuple[dict, str]:
    """(state dict with official key names, "official" | "mmpose") from a loaded non-ours file."""
    if isinstance(obj, dict) and _is_state_dict(obj.get("state_dict")):
        obj = obj["state_dict"]
    if not _is_state_dict(obj):
        kind = type(obj).__name__
        if isinstance(obj, dict):
            keys = ", ".join(map(str, list(obj)[:5])) or "nothing"
            raise UserError(f"{path} is not a model checkpoint: a dict without weights (keys: {keys})")
        raise UserError(f"{path} is not a model checkpoint: it holds a {kind}, not a dict of weights")
    state_dict = _strip_prefix(dict(obj), "module.")
    if any(k.startswith("backbone.") for k in state_dict):
        return mmpose_to_official(state_dict), "mmpose"
    return state_dict, "official"


def external_config(
    state_dict: dict, path: Path, input_size: tuple[int, int] | None = None, preset: str | None = None
) -> ModelConfig:
    """The config of an official/mmpose state dict: width and joints from its weights, `preset`
    (default: the file's own attention positions) and `input_size` (default 192×256) as given."""
    found = summarize_weights(state_dict)
    if found.width is None or found.num_joints is None:
        raise UserError(f"{path} does not look like an HRNet pose checkpoint: {found.describe()}")
    return ModelConfig(
        width=found.width,
        preset=preset_for_positions(found.positions) if preset is None else preset,
        input_size=tuple(input_size or DEFAULT_INPUT_SIZE),
        num_joints=found.num_joints,
    )


def _fit_report(model: nn.Module, state_dict: dict, allow_missing_attention: bool = False) -> str | None:
    """None when the weights fit the model exactly, else a count of what does not fit."""
    expected = model.state_dict()
    # BN's num_batches_tracked is absent from files saved before PyTorch 0.4.1; loading fills it in.
    missing = [k for k in expected if k not in state_dict and not k.endswith(".num_batches_tracked")]
    if allow_missing_attention:
        missing = [k for k in missing if not k.startswith("attention.")]
    unexpected = [k for k in state_dict if k not in expected]
    reshaped = [
        k
        for k in expected
        if k in state_dict
        and (not isinstance(state_dict[k], torch.Tensor) or state_dict[k].shape != expected[k].shape)
    ]
    if not (missing or unexpected or reshaped):
        return None

    def count(keys: list[str], what: str) -> str:
        return f"{len(keys)} {what}{'s' if len(keys) > 1 else ''} (e.g. {keys[0]})"

    parts = []
    if missing:
        parts.append(count(missing, "missing key"))
    if unexpected:
        parts.append(count(unexpected, "unexpected key"))
    if reshaped:
        key = reshaped[0]
        found, wanted = tuple(getattr(state_dict[key], "shape", ())), tuple(expected[key].shape)
        parts.append(f"{count(reshaped, 'key')} with another shape: file {found} vs model {wanted}")
    return "; ".join(parts)


def _check_values(model: nn.Module, state_dict: dict, path: Path) -> None:
    """Refuse, at load and in one line, weights no video could use: integer tensors where the model
    has floating-point ones (a quantised or damaged file; PyTorch cannot even assign them), and NaN or
    infinite values (a diverged training run; every pose would be NaN)."""
    expected = model.state_dict()
    for key, value in state_dict.items():
        wanted = expected.get(key)
        if wanted is not None and wanted.is_floating_point() and not value.is_floating_point():
            raise UserError(
                f"{path}: {key} holds {str(value.dtype).removeprefix('torch.')} values where the model has "
                "floating-point weights (a quantised or integer-typed checkpoint?); only float ones load"
            )
    bad = {k: int((~torch.isfinite(v)).sum()) for k, v in state_dict.items() if v.is_floating_point()}
    bad = {k: n for k, n in bad.items() if n}
    if bad:
        key = next(iter(bad))
        raise UserError(
            f"{path} holds NaN or infinite weights ({sum(bad.values())} values in {len(bad)} tensors, e.g. "
            f"{key}): the training that wrote it diverged; use an earlier checkpoint"
        )


def load_weights(
    model: PoseHRNet, state_dict: dict, path: Path, allow_missing_attention: bool = False
) -> PoseHRNet:
    """Load strictly (attention modules may be absent when asked: they keep their identity init).

    A model built on the meta device takes the file's tensors as its own (no wasted initialisation).
    """
    problem = _fit_report(model, state_dict, allow_missing_attention)
    if problem:
        cfg = model.config
        raise UserError(
            f"{path} does not fit HRNet-W{cfg.width} preset {cfg.preset} with {cfg.num_joints} joints: "
            f"the file looks like {summarize_weights(state_dict).describe()}; {problem}"
        )
    _check_values(model, state_dict, path)
    assign = model.conv1.weight.is_meta
    if assign:  # keep float32 parameters whatever the file stored (e.g. fp16)
        state_dict = {k: v.float() if v.is_floating_point() else v for k, v in state_dict.items()}
    model.load_state_dict(state_dict, strict=not allow_missing_attention, assign=assign)
    return model


def load_checkpoint(path: str | os.PathLike, input_size: tuple[int, int] | None = None) -> LoadedCheckpoint:
    """Any supported checkpoint -> model in eval mode on the CPU, with where it came from.

    `input_size` (w, h) applies to official/mmpose files only; ours carry their own. `path` may be a
    registry name (core.model.named): then the entry's input size and decoder apply, and the file is
    downloaded on first use.
    """
    from core.model.named import resolve_checkpoint

    choice = resolve_checkpoint(path)
    path, input_size = choice.path, choice.input_size or input_size
    obj = read_checkpoint_file(path)
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        version = obj.get("version")
        if not isinstance(version, int) or version > VERSION:
            raise UserError(f"{path} has checkpoint version {version!r}; this program reads up to {VERSION}")
        if not _is_state_dict(obj.get("state_dict")):
            raise UserError(f"{path} is damaged: our format but without a state_dict")
        try:
            config = ModelConfig.from_dict(obj.get("config"))
        except UserError as error:
            raise UserError(f"{path}: {error}") from None
        meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
        state_dict, source = obj["state_dict"], "ours"
    else:
        state_dict, source = external_state_dict(obj, path)
        config = external_config(state_dict, path, input_size)
        meta = {}
    if choice.entry is not None and not choice.entry.format.startswith(source):
        raise UserError(
            f"{path} is in {source} format, but {choice.entry.name} names a {choice.entry.format} file"
        )
    with torch.device("meta"):
        model = PoseHRNet(config)
    load_weights(model, state_dict, path)
    name = choice.entry.name if choice.entry is not None else None
    return LoadedCheckpoint(model.eval(), source, meta, path, choice.decode, name)


def load_model(path: str | os.PathLike, input_size: tuple[int, int] | None = None) -> PoseHRNet:
    return load_checkpoint(path, input_size).model


def convert_checkpoint(
    source: str | os.PathLike,
    source_format: str,
    preset: str,
    out: str | os.PathLike,
    input_size: tuple[int, int] | None = None,
) -> PoseHRNet:
    """An official or mmpose checkpoint -> our format with `preset`'s attention modules added at
    their identity init (so the converted model's heatmaps equal the baseline's)."""
    if source_format not in ("official", "mmpose"):
        raise UserError(f"unknown source format {source_format!r}; choose official or mmpose")
    source = Path(source)
    obj = read_checkpoint_file(source)
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        raise UserError(f"{source} is already in our format; `info --checkpoint` describes it")
    state_dict, detected = external_state_dict(obj, source)
    if detected != source_format:
        raise UserError(
            f"{source} looks like an {detected} checkpoint, not {source_format}; use --from {detected}"
        )
    model = PoseHRNet(external_config(state_dict, source, input_size, preset))
    load_weights(model, state_dict, source, allow_missing_attention=True)
    converted_from = {"path": str(source), "format": source_format}
    save_checkpoint(model, out, {"converted_from": converted_from})
    return model.eval()
