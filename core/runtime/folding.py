"""BatchNorm folded into the convolution before it: one op fewer per conv at inference, same output.

In eval mode BN is a per-channel affine map, so conv followed by BN is a conv with rescaled weights and
a new bias. Which BN follows which conv is observed on a forward pass rather than guessed from module
names, and the folded copy is checked against the original before it is used.
"""

from __future__ import annotations

import copy
import logging
import weakref

import torch
from torch import nn

log = logging.getLogger(__name__)


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / ||b|| (Frobenius norms, fp64, on the CPU): how outputs are compared here, in the
    backends' parity tests and in the benchmark."""
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


def _fold_pair(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """conv(x) then bn == conv'(x): w' = w·γ/√(σ²+ε), b' = (b - μ)·γ/√(σ²+ε) + β (computed in fp64)."""
    scale = bn.weight.detach().double() if bn.weight is not None else torch.ones_like(bn.running_var).double()
    shift = bn.bias.detach().double() if bn.bias is not None else torch.zeros_like(bn.running_mean).double()
    factor = scale / torch.sqrt(bn.running_var.double() + bn.eps)
    weight = conv.weight.detach().double() * factor.view(-1, *([1] * (conv.weight.dim() - 1)))
    bias = conv.bias.detach().double() if conv.bias is not None else torch.zeros_like(factor)
    bias = (bias - bn.running_mean.double()) * factor + shift
    conv.weight = nn.Parameter(weight.to(conv.weight.dtype), requires_grad=False)
    conv.bias = nn.Parameter(bias.to(conv.weight.dtype), requires_grad=False)


def fold_batchnorm(model: nn.Module, example: torch.Tensor, tolerance: float = 1e-4) -> nn.Module:
    """A copy of `model` (eval mode) with every BatchNorm2d that directly follows a Conv2d folded away.

    Which BN follows which conv is observed, not guessed from names: one forward pass of `example`
    with hooks records each conv's output tensor, and a BN whose input is that very tensor,
    unmodified (same version counter, so no in-place op ran in between), folds into it. Modules
    called more than once are left alone. The folded copy is then checked against the original on
    `example`; if they differ by more than `tolerance` (relative), the unfolded copy is returned.
    """
    folded = copy.deepcopy(model).eval()
    outputs: dict[int, tuple[nn.Conv2d, weakref.ref, int]] = {}
    calls: dict[int, int] = {}
    pairs: list[tuple[nn.Conv2d, nn.BatchNorm2d]] = []

    def after_conv(module, args, out):
        calls[id(module)] = calls.get(id(module), 0) + 1
        outputs[id(out)] = (module, weakref.ref(out), out._version)

    def before_bn(module, args):
        calls[id(module)] = calls.get(id(module), 0) + 1
        entry = outputs.get(id(args[0]))
        if entry is not None and entry[1]() is args[0] and args[0]._version == entry[2]:
            pairs.append((entry[0], module))

    hooks = []
    for module in folded.modules():
        if type(module) is nn.Conv2d:
            hooks.append(module.register_forward_hook(after_conv))
        elif isinstance(module, nn.BatchNorm2d) and module.track_running_stats:
            hooks.append(module.register_forward_pre_hook(before_bn))
    try:
        with torch.no_grad():  # not inference_mode: version counters must be live
            reference = folded(example)
    finally:
        for hook in hooks:
            hook.remove()

    parents = {
        id(child): (parent, name) for parent in folded.modules() for name, child in parent.named_children()
    }
    for conv, bn in pairs:
        if calls.get(id(conv)) == 1 and calls.get(id(bn)) == 1 and id(bn) in parents:
            _fold_pair(conv, bn)
            parent, name = parents[id(bn)]
            setattr(parent, name, nn.Identity())
    with torch.no_grad():
        error = relative_error(folded(example), reference)
    if error > tolerance:
        log.warning("BatchNorm folding changed the output (relative error %.1e); running unfolded", error)
        return copy.deepcopy(model).eval()
    return folded


def fold_for_inference(model: nn.Module, input_size: tuple[int, int]) -> nn.Module:
    """fold_batchnorm checked on a fixed random crop of `input_size` (w, h), on the model's own device.

    The fold runs in fp64 and is stored in the model's dtype; backends that compute in fp16 cast
    *after* it, so γ/√(σ²+ε) is never rounded to fp16 before it multiplies the weights.
    """
    w, h = input_size
    example = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    param = next(model.parameters(), None)
    return fold_batchnorm(model, example.to(param.device if param is not None else "cpu"))


def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Trained-looking BN statistics and affine terms, so folding has something to fold: untrained
    models have γ=1, β=0, μ=0, σ²=1, which any fold gets right (tests, core.bench.gpu_check)."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.weight.data = 1 + 0.2 * torch.randn(n, generator=generator)
            module.bias.data = 0.1 * torch.randn(n, generator=generator)
            module.running_mean.data = 0.1 * torch.randn(n, generator=generator)
            module.running_var.data = 0.5 + torch.rand(n, generator=generator)
    return model
