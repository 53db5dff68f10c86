"""The paper's attention module (AM, Fig. 2) and where it may sit in HRNet.

Decisions (the paper leaves them open or we deliberately differ):
- CAM: global average pool → 1×1 conv C→C/16 (bias) → ReLU → 1×1 conv C/16→C (bias) → sigmoid →
  multiply channel-wise. C/16 is floored and at least 1.
- SAM, applied to CAM's output: mean over channels (the paper names only average pooling; no max-pool
  map as in CBAM) → 3×3 conv 1→1 (bias, pad 1) → ReLU (our choice: the paper does not say what lies
  between its two 3×3 convs) → 3×3 conv 1→1 (bias, pad 1) → sigmoid → multiply spatially.
- Residual: output = x + gamma · SAM(CAM(x)), gamma a learnable scalar. gamma starts at
  `attention_init_scale` (default 0.0) so a preset initialised from a baseline checkpoint reproduces
  the baseline's heatmaps exactly; the paper's form x + AM(x) is gamma = 1.0. This is a stated
  difference from the paper.
- Positions (stage s, branch b): the feature map of branch b right after transition s, entering
  stage s+1 (branch 1 = highest resolution). s=1: b∈{1,2}; s=2: b∈{1,2,3}; s=3: b∈{1..4}; nine in all.
  The presets follow paper-notes Table I; sub1234 and stage123 both mean all nine positions.
"""

from __future__ import annotations

import torch
from torch import nn

from core.errors import UserError

REDUCTION = 16

Position = tuple[int, int]

ALL_POSITIONS: tuple[Position, ...] = tuple((s, b) for s in (1, 2, 3) for b in range(1, s + 2))

PRESETS: dict[str, tuple[Position, ...]] = {
    "baseline": (),
    "sub1": tuple(p for p in ALL_POSITIONS if p[1] <= 1),
    "sub12": tuple(p for p in ALL_POSITIONS if p[1] <= 2),
    "sub123": tuple(p for p in ALL_POSITIONS if p[1] <= 3),
    "sub1234": ALL_POSITIONS,
    "stage1": tuple(p for p in ALL_POSITIONS if p[0] <= 1),
    "stage12": tuple(p for p in ALL_POSITIONS if p[0] <= 2),
    "stage123": ALL_POSITIONS,
    # The paper's proposed network, "Sub-1 + Stage-1": three AMs on branch 1, one on branch 2.
    "paper": tuple(p for p in ALL_POSITIONS if p[1] == 1 or p[0] == 1),
}


def reduced_channels(channels: int, reduction: int = REDUCTION) -> int:
    return max(1, channels // reduction)


def attention_parameter_count(channels: int, reduction: int = REDUCTION) -> int:
    """Parameters of one AM at C channels: CAM's two biased 1×1 convs, SAM's two biased 3×3 1→1 convs,
    and gamma."""
    r = reduced_channels(channels, reduction)
    cam = (channels * r + r) + (r * channels + channels)
    sam = 2 * (3 * 3 + 1)
    return cam + sam + 1


def position_channels(width: int, position: Position) -> int:
    """Channels of the feature map at (stage, branch): HRNet doubles them per branch."""
    return width * 2 ** (position[1] - 1)


def position_key(position: Position) -> str:
    """Module name under `attention.` in the state dict, e.g. (1, 2) -> 's1b2'."""
    return f"s{position[0]}b{position[1]}"


def format_positions(positions: tuple[Position, ...]) -> str:
    """Canonical text form, e.g. '1.1,2.1,3.1'; '' for none."""
    return ",".join(f"{s}.{b}" for s, b in positions)


def _valid_choices() -> str:
    return f"presets: {', '.join(PRESETS)}; or positions from {format_positions(ALL_POSITIONS)}"


def normalize_positions(positions) -> tuple[Position, ...]:
    """Sorted, de-duplicated positions; UserError for one that HRNet does not have."""
    result = set()
    for item in positions:
        try:
            s, b = (int(v) for v in item)
        except (TypeError, ValueError):
            raise UserError(
                f"attention position {item!r} is not a (stage, branch) pair; {_valid_choices()}"
            ) from None
        if (s, b) not in ALL_POSITIONS:
            raise UserError(f"no attention position {s}.{b} in HRNet; {_valid_choices()}")
        result.add((s, b))
    return tuple(sorted(result))


def resolve_positions(preset: str) -> tuple[Position, ...]:
    """A preset name, or an explicit list like '1.1,2.1,3.4' (stage.branch), -> positions."""
    name = preset.strip().lower()
    if name in PRESETS:
        return PRESETS[name]
    if not name or not any(ch.isdigit() for ch in name):
        raise UserError(f"unknown attention preset {preset!r}; {_valid_choices()}")
    pairs = []
    for part in name.replace(" ", "").split(","):
        pieces = part.split(".")
        if len(pieces) != 2 or not all(p.isdigit() for p in pieces):
            raise UserError(f"attention position {part!r} must look like STAGE.BRANCH; {_valid_choices()}")
        pairs.append((int(pieces[0]), int(pieces[1])))
    return normalize_positions(pairs)


def canonical_preset(preset: str) -> str:
    """A preset name as given (lower case), an explicit list in canonical order."""
    name = preset.strip().lower()
    return name if name in PRESETS else format_positions(resolve_positions(preset)) or "baseline"


def preset_for_positions(positions: tuple[Position, ...]) -> str:
    """The first preset with exactly these positions, else their explicit list."""
    positions = normalize_positions(positions)
    for name, preset_positions in PRESETS.items():
        if preset_positions == positions:
            return name
    return format_positions(positions)


class ChannelAttention(nn.Module):
    """CAM: squeeze-and-excitation style channel gate."""

    def __init__(self, channels: int, reduction: int = REDUCTION):
        super().__init__()
        hidden = reduced_channels(channels, reduction)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=True)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.fc2(self.relu(self.fc1(self.pool(x)))))
        return x * gate


class SpatialAttention(nn.Module):
    """SAM: channel-mean map through two 3×3 convs (the paper's replacement for CBAM's 7×7)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 1, 3, padding=1, bias=True)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(1, 1, 3, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.conv2(self.relu(self.conv1(x.mean(dim=1, keepdim=True)))))
        return x * gate


class AttentionModule(nn.Module):
    """x + gamma · SAM(CAM(x)); gamma = 0 makes the module an exact identity."""

    def __init__(self, channels: int, init_scale: float = 0.0, reduction: int = REDUCTION):
        super().__init__()
        self.cam = ChannelAttention(channels, reduction)
        self.sam = SpatialAttention()
        self.gamma = nn.Parameter(torch.tensor(float(init_scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.gamma * self.sam(self.cam(x))
