"""Where a training run's weights come from and how its full state survives a restart.

- init_from_pose(): official HRNet / mmpose / our checkpoint into a model that may have new
  attention modules (fine-tuning an attention preset from a baseline): loaded with strict=False,
  and the only keys allowed to be missing are `attention.*`.
- init_from_imagenet(): an ImageNet HRNet classification checkpoint (e.g. `hrnet_w32-36af842e.pth`
  or the official `hrnetv2_w32_imagenet_pretrained.pth`): the backbone keys that match by name and
  shape, as HRNet's PRETRAINED_LAYERS does; counts are reported.
- save_training_checkpoint()/read_training_checkpoint(): our checkpoint format (core.model.checkpoint) with
  its "training" entry holding the optimiser, scheduler, scaler and RNG states (`meta` stays plain
  types, so the tensors of that state live beside it); model loaders ignore the entry.
- read_on_rank0(): the resume checkpoint read by rank 0 alone and broadcast to the other ranks.
- rng_state()/set_rng_state(): python, numpy, torch and CUDA generators as plain lists and tensors,
  so the checkpoint holding them loads with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.errors import UserError
from trainer.distributed import DistContext, broadcast_object

# Top-level modules HRNet takes from an ImageNet checkpoint (its PRETRAINED_LAYERS).
BACKBONE_PREFIXES = (
    "conv1",
    "bn1",
    "conv2",
    "bn2",
    "layer1",
    "transition1",
    "stage2",
    "transition2",
    "stage3",
    "transition3",
    "stage4",
)
ATTENTION_PREFIX = "attention."


@dataclass(frozen=True)
class InitReport:
    source: str
    loaded: int  # tensors copied into the model
    model_total: int  # tensors the model has
    new: tuple[str, ...] = ()  # model tensors left at their fresh init
    ignored: tuple[str, ...] = ()  # file tensors not used

    def describe(self) -> str:
        text = f"initialised {self.loaded} of {self.model_total} tensors from {self.source}"
        if self.new:
            modules = sorted({k.split(".")[1] for k in self.new if k.startswith(ATTENTION_PREFIX)})
            rest = [k for k in self.new if not k.startswith(ATTENTION_PREFIX)]
            parts = []
            if modules:
                parts.append(f"attention modules {', '.join(modules)}")
            if rest:
                parts.append(f"{len(rest)} other tensors")
            text += f"; new: {' and '.join(parts)}"
        if self.ignored:
            text += f"; ignored {len(self.ignored)} tensors of the file"
        return text


def init_from_pose(model: torch.nn.Module, path: str | Path) -> InitReport:
    """Copy a pose checkpoint's weights into `model`; only attention modules may be new."""
    from core.model import load_model

    source = load_model(path)
    state = source.state_dict()
    target = model.state_dict()
    mismatched = [k for k, v in state.items() if k in target and target[k].shape != v.shape]
    if mismatched:
        key = mismatched[0]
        raise UserError(
            f"{path}: weights do not fit this model ({key}: {tuple(state[key].shape)} in the "
            f"file, {tuple(target[key].shape)} here; width {source.config.width} vs "
            f"{model.config.width}, joints {source.config.num_joints} vs {model.config.num_joints})"
        )
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(ATTENTION_PREFIX)]
    unexpected = [k for k in result.unexpected_keys if not k.startswith(ATTENTION_PREFIX)]
    if missing or unexpected:
        raise UserError(
            f"{path}: not the same network apart from attention modules "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    return InitReport(
        str(path),
        len(state) - len(result.unexpected_keys),
        len(target),
        tuple(result.missing_keys),
        tuple(result.unexpected_keys),
    )


def init_from_imagenet(model: torch.nn.Module, path: str | Path) -> InitReport:
    """Load the backbone tensors of an ImageNet HRNet that match by name and shape."""
    state = _load_state_dict(path)
    target = model.state_dict()
    backbone = [k for k in target if k.split(".")[0] in BACKBONE_PREFIXES]
    matched = {
        k: v
        for k, v in state.items()
        if k.split(".")[0] in BACKBONE_PREFIXES and k in target and target[k].shape == v.shape
    }
    if len(matched) < len(backbone) // 2:
        raise UserError(
            f"{path}: only {len(matched)} of the model's {len(backbone)} backbone tensors match; "
            f"not an ImageNet HRNet-W{model.config.width} checkpoint?"
        )
    model.load_state_dict(matched, strict=False)
    new = tuple(k for k in target if k not in matched)
    ignored = tuple(k for k in state if k not in matched)
    return InitReport(str(path), len(matched), len(target), new, ignored)


def _load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    from core.model import read_checkpoint_file

    data = read_checkpoint_file(path)
    for key in ("state_dict", "model", "net"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise UserError(f"{path}: does not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in data.items()}


TRAINING_KEYS = ("optimizer", "scheduler", "scaler", "rng")


def save_training_checkpoint(
    model: torch.nn.Module, path: str | Path, meta: dict[str, Any], training: dict[str, Any] | None = None
) -> Path:
    """Our checkpoint with the resumable state (TRAINING_KEYS) added when given; written atomically."""
    from core.model import save_checkpoint

    return save_checkpoint(model, path, meta, training)


def read_training_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint written by save_training_checkpoint with its training state, or one clear error."""
    from core.model import FORMAT, read_checkpoint_file

    data = read_checkpoint_file(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(
            f"{path}: not one of our checkpoints, so there is no training state to resume; "
            "start from its weights with --init instead"
        )
    training = data.get("training")
    meta = data.get("meta") or {}
    if not isinstance(training, dict) or not all(k in training for k in TRAINING_KEYS) or "epoch" not in meta:
        raise UserError(
            f"{path}: holds no training state to resume from (best.pt keeps weights only; "
            "resume from latest.pt, or start from these weights with --init)"
        )
    return data


def read_on_rank0(path: str | Path, context: DistContext) -> dict[str, Any]:
    """read_training_checkpoint on rank 0, broadcast (or its error) to every rank: a multi-node run
    resumes from a checkpoint that only rank 0's machine holds, without a shared filesystem."""
    checkpoint, error = None, None
    if context.is_main:
        try:
            checkpoint = read_training_checkpoint(path)
        except UserError as failure:
            error = str(failure)
    checkpoint, error = broadcast_object((checkpoint, error), context)
    if error is not None:
        raise UserError(error)
    return checkpoint


def rng_state() -> dict[str, Any]:
    """Every global generator's state in types `torch.load(weights_only=True)` accepts."""
    version, words, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(words), gauss],
        "numpy": [
            str(kind),
            torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            int(pos),
            int(has_gauss),
            float(cached),
        ],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, words, gauss = state["python"]
    random.setstate((int(version), tuple(int(w) for w in words), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), float(cached)))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
