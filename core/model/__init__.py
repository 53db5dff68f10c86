"""The pose network: HRNet-W32/W48 with the paper's attention module at the nine Table I positions,
its checkpoints (ours, official HRNet, mmpose; files or core.zoo names), its size and cost (measured,
`ModelSize`), and the paper's own numbers. ONNX export lives in `core.model.onnx_export` (it pulls in
onnx)."""

from core.model.attention import (
    ALL_POSITIONS,
    PRESETS,
    AttentionModule,
    Position,
    canonical_preset,
    format_positions,
    resolve_positions,
)
from core.model.checkpoint import (
    FORMAT,
    convert_checkpoint,
    load_checkpoint,
    load_model,
    read_checkpoint_file,
    save_checkpoint,
)
from core.model.complexity import (
    ModelSize,
    attention_flops,
    attention_parameters,
    count_flops,
    count_parameters,
)
from core.model.hrnet import (
    DEFAULT_INPUT_SIZE,
    ModelConfig,
    PoseHRNet,
    build_model,
    check_input_size,
    parse_size,
)
from core.model.named import CheckpointChoice, check_checkpoint_spec, default_checkpoint, resolve_checkpoint
from core.model.paper import PAPER_ROWS, paper_row

__all__ = [
    "ALL_POSITIONS",
    "DEFAULT_INPUT_SIZE",
    "FORMAT",
    "PAPER_ROWS",
    "PRESETS",
    "AttentionModule",
    "CheckpointChoice",
    "ModelConfig",
    "ModelSize",
    "PoseHRNet",
    "Position",
    "attention_flops",
    "attention_parameters",
    "build_model",
    "canonical_preset",
    "check_checkpoint_spec",
    "check_input_size",
    "convert_checkpoint",
    "count_flops",
    "count_parameters",
    "default_checkpoint",
    "format_positions",
    "load_checkpoint",
    "load_model",
    "paper_row",
    "parse_size",
    "read_checkpoint_file",
    "resolve_checkpoint",
    "resolve_positions",
    "save_checkpoint",
]
