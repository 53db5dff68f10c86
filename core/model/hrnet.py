"""HRNet for top-down pose estimation, optionally with the paper's attention modules.

The baseline is the topology of the official `lib/models/pose_hrnet.py`
(leoxiaobin/deep-high-resolution-net.pytorch): a stem of two stride-2 3×3 convs (BN momentum 0.1),
`layer1` of 4 Bottlenecks to 256 channels, transitions, stages 2/3/4 with 1/4/3 modules of 4
BasicBlocks per branch, multi-resolution fusion with nearest upsampling, stage 4's last module
fusing into the highest resolution only, and a 1×1 conv to J heatmaps at 1/4 of the input size.
State-dict keys and shapes are the official ones (28,536,113 parameters at W32, 63,595,745 at W48),
so an official checkpoint loads with `strict=True`; tests/reference_hrnet.py checks identical outputs.

Attention modules (core.model.attention) live under their own prefix `attention.s{stage}b{branch}.` and
act on branch b right after transition s, so they never disturb the baseline keys. Where the
official code keeps `None` in a ModuleList (no transition, fusion with itself) we keep an
`nn.Identity`, which has no state and leaves the key indices unchanged.

Input sides must be multiples of 32: the lowest branch runs at 1/32 of the input and fusion
upsamples it back by exact powers of two.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import nn

from core.errors import UserError
from core.model.attention import (
    AttentionModule,
    Position,
    canonical_preset,
    format_positions,
    normalize_positions,
    position_channels,
    position_key,
    preset_for_positions,
    resolve_positions,
)

BN_MOMENTUM = 0.1
STAGE_MODULES = {2: 1, 3: 4, 4: 3}  # HighResolutionModules per stage (official w32/w48 configs)
BLOCKS_PER_BRANCH = 4
STEM_CHANNELS = 64


# (w, h) of the crop, width first as OpenCV orders sizes: HRNet's COCO 256×192 setting.
DEFAULT_INPUT_SIZE = (192, 256)
# Bounds that keep a typo from eating the machine: HRNet is published from W18 to W64 (W32 and W48
# for pose), and no top-down pose model takes crops beyond 384×288; 1024 per side leaves room for
# research while a 20000×20000 crop (14.5 GB on two frames) or W2048 (10^11 weights) is one line.
MAX_WIDTH = 64
MAX_INPUT_SIDE = 1024


def check_input_size(w: int, h: int) -> None:
    """HRNet halves the input five times (stem ×2, three transitions): both sides must divide by 32."""
    if w <= 0 or h <= 0 or w % 32 or h % 32:
        raise UserError(
            f"input size {w}x{h}: width and height must be positive multiples of 32 "
            "(HRNet's lowest branch runs at 1/32 of the input)"
        )
    if max(w, h) > MAX_INPUT_SIDE:
        raise UserError(
            f"input size {w}x{h}: at most {MAX_INPUT_SIDE} per side (pose models take crops of "
            "192x256 to 288x384; memory grows with the crop's area)"
        )


def parse_size(text: str | None, default: tuple[int, int] = DEFAULT_INPUT_SIZE) -> tuple[int, int]:
    """'192x256' -> (192, 256): width first, as OpenCV orders sizes; None (not given) -> default."""
    if text is None:
        return default
    try:
        w, h = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise UserError(f"size must look like WIDTHxHEIGHT (e.g. 192x256), got {text!r}") from None
    check_input_size(w, h)
    return w, h


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model; checkpoints carry it (see to_dict)."""

    width: int = 32
    preset: str = "baseline"
    positions: tuple[Position, ...] | None = None  # derived from preset when None
    input_size: tuple[int, int] = DEFAULT_INPUT_SIZE  # (w, h) of the crop the model takes
    num_joints: int = 17
    attention_init_scale: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.width, int) or not 1 <= self.width <= MAX_WIDTH:
            raise UserError(
                f"HRNet width must be a whole number from 1 to {MAX_WIDTH} (published: W18 to W64, "
                f"W32 and W48 for pose), got {self.width!r}"
            )
        if not isinstance(self.num_joints, int) or self.num_joints < 1:
            raise UserError(f"number of joints must be a positive integer, got {self.num_joints!r}")
        try:
            w, h = (int(v) for v in self.input_size)
        except (TypeError, ValueError):
            raise UserError(f"input size must be (width, height), got {self.input_size!r}") from None
        check_input_size(w, h)
        given = None if self.positions is None else normalize_positions(self.positions)
        # Positions given with the default preset name: the name follows the positions.
        if given and self.preset == "baseline":
            preset = preset_for_positions(given)
        else:
            preset = canonical_preset(self.preset)
        from_preset = resolve_positions(preset)
        positions = from_preset if given is None else given
        if positions != from_preset:
            raise UserError(
                f"preset {preset!r} means positions [{format_positions(from_preset)}], "
                f"not [{format_positions(positions)}]"
            )
        object.__setattr__(self, "preset", preset)
        object.__setattr__(self, "positions", positions)
        object.__setattr__(self, "input_size", (w, h))
        object.__setattr__(self, "attention_init_scale", float(self.attention_init_scale))

    @property
    def heatmap_size(self) -> tuple[int, int]:
        return self.input_size[0] // 4, self.input_size[1] // 4

    def to_dict(self) -> dict:
        """Plain types only, so a checkpoint holding it loads with weights_only=True."""
        return {
            "width": self.width,
            "preset": self.preset,
            "positions": [list(p) for p in self.positions],
            "input_size": list(self.input_size),
            "heatmap_size": list(self.heatmap_size),
            "num_joints": self.num_joints,
            "attention_init_scale": self.attention_init_scale,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        if not isinstance(data, dict):
            raise UserError(f"model config must be a dict, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}  # to_dict's derived heatmap_size is not one
        args = {k: v for k, v in data.items() if k in known}
        if "positions" in args:
            args["positions"] = tuple(tuple(p) for p in args["positions"])
        if "input_size" in args:
            args["input_size"] = tuple(args["input_size"])
        try:
            return cls(**args)
        except TypeError as error:
            raise UserError(f"bad model config {data!r}: {error}") from None


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + residual)


def _fuse_layer(channels: list[int], i: int, j: int) -> nn.Module:
    """Path from branch j into branch i: 1×1 conv + BN + nearest upsampling from lower resolutions,
    a chain of stride-2 3×3 convs (ReLU between, none after the last) from higher ones."""
    if j > i:
        return nn.Sequential(
            nn.Conv2d(channels[j], channels[i], 1, 1, 0, bias=False),
            nn.BatchNorm2d(channels[i]),
            nn.Upsample(scale_factor=2 ** (j - i), mode="nearest"),
        )
    if j == i:
        return nn.Identity()
    steps = []
    for k in range(i - j):
        last = k == i - j - 1
        out = channels[i] if last else channels[j]
        layers = [nn.Conv2d(channels[j], out, 3, 2, 1, bias=False), nn.BatchNorm2d(out)]
        if not last:
            layers.append(nn.ReLU(inplace=True))
        steps.append(nn.Sequential(*layers))
    return nn.Sequential(*steps)


class HighResolutionModule(nn.Module):
    """Parallel branches of BasicBlocks, then every output resolution sums all branches."""

    def __init__(self, channels: list[int], num_blocks: int, multi_scale_output: bool = True):
        super().__init__()
        self.num_branches = len(channels)
        self.branches = nn.ModuleList(
            nn.Sequential(*(BasicBlock(c, c) for _ in range(num_blocks))) for c in channels
        )
        outputs = self.num_branches if multi_scale_output else 1
        self.fuse_layers = nn.ModuleList(
            nn.ModuleList(_fuse_layer(channels, i, j) for j in range(self.num_branches))
            for i in range(outputs)
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs, strict=True)]
        fused = []
        for fuse in self.fuse_layers:
            y = fuse[0](xs[0])
            for j in range(1, self.num_branches):
                y = y + fuse[j](xs[j])
            fused.append(self.relu(y))
        return fused


def _transition(previous: list[int], current: list[int]) -> nn.ModuleList:
    """Adapt branches whose channels change (3×3 conv) and create new, lower-resolution branches
    from the lowest existing one (stride-2 3×3 convs)."""
    layers = []
    for i, out in enumerate(current):
        if i < len(previous):
            if out != previous[i]:
                layers.append(
                    nn.Sequential(
                        nn.Conv2d(previous[i], out, 3, 1, 1, bias=False),
                        nn.BatchNorm2d(out),
                        nn.ReLU(inplace=True),
                    )
                )
            else:
                layers.append(nn.Identity())
        else:
            steps = []
            for j in range(i + 1 - len(previous)):
                inp = previous[-1]
                step_out = out if j == i - len(previous) else inp
                steps.append(
                    nn.Sequential(
                        nn.Conv2d(inp, step_out, 3, 2, 1, bias=False),
                        nn.BatchNorm2d(step_out),
                        nn.ReLU(inplace=True),
                    )
                )
            layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


class PoseHRNet(nn.Module):
    """N×3×H×W RGB crops (normalised with codec.PIXEL_MEAN/PIXEL_STD) -> N×J×H/4×W/4 heatmaps."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        w = config.width
        self.conv1 = nn.Conv2d(3, STEM_CHANNELS, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(STEM_CHANNELS, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(STEM_CHANNELS, STEM_CHANNELS, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(STEM_CHANNELS, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer1()

        channels = {s: [w * 2**b for b in range(s)] for s in (2, 3, 4)}
        self.transition1 = _transition([STEM_CHANNELS * Bottleneck.expansion], channels[2])
        self.stage2 = self._make_stage(channels[2], STAGE_MODULES[2])
        self.transition2 = _transition(channels[2], channels[3])
        self.stage3 = self._make_stage(channels[3], STAGE_MODULES[3])
        self.transition3 = _transition(channels[3], channels[4])
        self.stage4 = self._make_stage(channels[4], STAGE_MODULES[4], multi_scale_output=False)
        self.final_layer = nn.Conv2d(w, config.num_joints, kernel_size=1, stride=1, padding=0)
        self._init_backbone_weights()

        self.attention = nn.ModuleDict(
            {
                position_key(p): AttentionModule(position_channels(w, p), config.attention_init_scale)
                for p in config.positions
            }
        )

    @staticmethod
    def _make_layer1() -> nn.Sequential:
        out = STEM_CHANNELS * Bottleneck.expansion
        downsample = nn.Sequential(
            nn.Conv2d(STEM_CHANNELS, out, kernel_size=1, stride=1, bias=False),
            nn.BatchNorm2d(out, momentum=BN_MOMENTUM),
        )
        blocks = [Bottleneck(STEM_CHANNELS, STEM_CHANNELS, 1, downsample)]
        blocks += [Bottleneck(out, STEM_CHANNELS) for _ in range(3)]
        return nn.Sequential(*blocks)

    @staticmethod
    def _make_stage(channels: list[int], num_modules: int, multi_scale_output: bool = True) -> nn.Sequential:
        return nn.Sequential(
            *(
                HighResolutionModule(channels, BLOCKS_PER_BRANCH, multi_scale_output or i < num_modules - 1)
                for i in range(num_modules)
            )
        )

    def _init_backbone_weights(self) -> None:
        """The official init for training from scratch: conv N(0, 0.001), BN weight 1 / bias 0."""
        if self.conv1.weight.is_meta:  # shapes only (counting): nothing to initialise
            return
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, std=0.001)
                if module.bias is not None:
                    nn.init.constant_(module.bias, 0)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.constant_(module.weight, 1)
                nn.init.constant_(module.bias, 0)

    def _enter_stage(
        self, boundary: int, transition: nn.ModuleList, ys: list[torch.Tensor]
    ) -> list[torch.Tensor]:
        """Transition `boundary` (new branches grow from the lowest one), then its attention modules."""
        xs = [layer(ys[i] if i < len(ys) else ys[-1]) for i, layer in enumerate(transition)]
        for stage, branch in self.config.positions:
            if stage == boundary:
                xs[branch - 1] = self.attention[position_key((stage, branch))](xs[branch - 1])
        return xs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.layer1(x)
        ys = self.stage2(self._enter_stage(1, self.transition1, [x]))
        ys = self.stage3(self._enter_stage(2, self.transition2, ys))
        ys = self.stage4(self._enter_stage(3, self.transition3, ys))
        return self.final_layer(ys[0])


def build_model(
    width: int = 32,
    preset: str = "baseline",
    num_joints: int = 17,
    input_size: tuple[int, int] = DEFAULT_INPUT_SIZE,
    positions: tuple[Position, ...] | None = None,
    attention_init_scale: float = 0.0,
    seed: int | None = None,
) -> PoseHRNet:
    """A freshly initialised model (official HRNet init; attention at its identity init by default).

    `seed` draws the initial weights from their own generator, leaving the global one alone: the
    same weights every time, so an untrained model's cached engines (keyed by a digest of the
    weights) are found again next run. None draws from the global RNG (training)."""
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return build_model(width, preset, num_joints, input_size, positions, attention_init_scale)
    config = ModelConfig(
        width=width,
        preset=preset,
        positions=positions,
        input_size=tuple(input_size),
        num_joints=num_joints,
        attention_init_scale=attention_init_scale,
    )
    return PoseHRNet(config)
