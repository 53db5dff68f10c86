"""BatchNorm folding: every conv→BN pair of the pose model folds, the output stays the same, and
patterns where folding would change the result are left alone."""

import pytest
import torch
from torch import nn

from core.model.hrnet import build_model
from core.runtime.folding import fold_batchnorm, randomize_batchnorm, relative_error


def test_folding_removes_every_batchnorm_and_keeps_the_output():
    torch.manual_seed(0)
    model = build_model(width=8, preset="paper", input_size=(64, 96), attention_init_scale=1.0).eval()
    model = randomize_batchnorm(model)
    x = torch.randn(2, 3, 96, 64, generator=torch.Generator().manual_seed(1))
    folded = fold_batchnorm(model, x[:1])
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) > 100
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    with torch.no_grad():
        assert relative_error(folded(x), model(x)) <= 1e-5
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules()), "the original stays untouched"


class ConvUsedTwice(nn.Module):
    """A conv whose output feeds a BN *and* a residual sum: folding it would change the sum."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y


class ReluBetween(nn.Module):
    """conv -> in-place ReLU -> BN: the BN sees the conv's tensor object, but modified."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn(self.relu(self.conv(x)))


@pytest.mark.parametrize("module_type", [ConvUsedTwice, ReluBetween])
def test_folding_leaves_unfoldable_patterns_alone(module_type):
    module = randomize_batchnorm(module_type()).eval()
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    folded = fold_batchnorm(module, x)
    assert any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    with torch.no_grad():
        assert relative_error(folded(x), module(x)) <= 1e-6
