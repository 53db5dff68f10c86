"""JointsMSELoss: the paper's Eq. 2 with HRNet's per-joint target weights."""

import torch

from trainer.loss import JointsMSELoss


def hrnet_loop(output, target, weight):
    """HRNet's own formulation (lib/core/loss.py), joint by joint."""
    criterion = torch.nn.MSELoss(reduction="mean")
    n, j = output.shape[:2]
    pred, gt = output.reshape(n, j, -1), target.reshape(n, j, -1)
    loss = 0.0
    for k in range(j):
        w = weight[:, k : k + 1]
        loss = loss + 0.5 * criterion(pred[:, k] * w, gt[:, k] * w)
    return loss / j


def test_matches_hrnets_per_joint_loop():
    gen = torch.Generator().manual_seed(0)
    output, target = torch.rand(3, 17, 16, 12, generator=gen), torch.rand(3, 17, 16, 12, generator=gen)
    weight = (torch.rand(3, 17, generator=gen) > 0.3).float()
    assert torch.allclose(JointsMSELoss()(output, target, weight), hrnet_loop(output, target, weight))


def test_unlabelled_joints_neither_count_nor_get_gradient():
    output = torch.rand(2, 17, 8, 6, requires_grad=True)
    target = torch.rand(2, 17, 8, 6)
    weight = torch.ones(2, 17)
    weight[:, 3] = 0
    loss = JointsMSELoss()(output, target, weight)
    loss.backward()
    assert output.grad[:, 3].abs().max() == 0
    assert output.grad[:, 2].abs().max() > 0
    changed = target.clone()
    changed[:, 3] = 99.0  # whatever the target says about an unlabelled joint
    assert torch.equal(JointsMSELoss()(output, changed, weight), loss)


def test_perfect_prediction_costs_nothing_and_half_precision_is_promoted():
    target = torch.rand(2, 17, 8, 6)
    assert JointsMSELoss()(target.clone(), target, torch.ones(2, 17)) == 0
    loss = JointsMSELoss()(target.half(), target, torch.ones(2, 17))
    assert loss.dtype == torch.float32


def test_without_target_weight_every_joint_counts():
    output, target = torch.zeros(1, 2, 2, 2), torch.ones(1, 2, 2, 2)
    assert JointsMSELoss(use_target_weight=False)(output, target, torch.zeros(1, 2)) == 0.5
    assert JointsMSELoss()(output, target, torch.tensor([[1.0, 0.0]])) == 0.25
