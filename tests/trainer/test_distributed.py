"""DDP on the CPU: two gloo processes train in lockstep and agree on validation."""

import socket

import pytest
import torch
import torch.multiprocessing as mp

from trainer import distributed
from trainer.config import TrainConfig


def test_a_single_process_needs_no_process_group(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    context = distributed.setup("cpu")
    assert (context.rank, context.world_size, context.enabled, context.is_main) == (0, 1, False, True)
    assert context.device == torch.device("cpu")
    assert distributed.all_reduce_mean(2.5, context) == 2.5
    assert distributed.gather_objects("x", context) == ["x"]
    assert distributed.broadcast_object({"a": 1}, context) == {"a": 1}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ddp_worker(rank: int, port: int, config: dict, out: str, resume: str | None = None) -> None:
    """What torchrun would start: the environment it sets, then the ordinary training entry point.
    When resuming, rank 1 names a file that does not exist: only rank 0 may read the checkpoint (a
    multi-node job without a shared filesystem)."""
    import os

    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(1)
    from trainer.train import train

    if resume is not None and rank == 1:
        resume = f"{out}/not-on-this-node/latest.pt"
    result = train(TrainConfig.from_dict(config), resume=resume)
    parameters = {k: v.detach().clone() for k, v in result.model.named_parameters()}
    torch.save({"parameters": parameters, "history": result.history}, f"{out}/rank{rank}.pt")


def test_two_gloo_processes_keep_identical_weights(shared_data, tmp_path):
    root = shared_data / "coco_mini"
    config = TrainConfig()
    config.model.width, config.model.input_size = 8, (64, 64)
    config.data.train_ann = config.data.val_ann = str(root / "person_keypoints.json")
    config.data.train_images = config.data.val_images = str(root / "images")
    config.data.workers = 0
    config.solver.batch_size, config.solver.epochs = 3, 2
    # Epoch 1 trains the final layer alone; epoch 2 re-wraps DDP around every parameter.
    config.params.freeze, config.params.freeze_except, config.params.freeze_epochs = (
        ("*",),
        ("final_layer.*",),
        1,
    )
    config.eval.every, config.eval.flip = 1, False
    config.run.device, config.run.out_dir, config.run.progress, config.run.tensorboard = (
        "cpu",
        str(tmp_path),
        False,
        False,
    )
    config.run.max_iters_per_epoch = 2
    mp.spawn(ddp_worker, args=(free_port(), config.to_dict(), str(tmp_path)), nprocs=2, join=True)

    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    torch.manual_seed(config.run.seed)
    from core.model.hrnet import build_model

    initial = dict(build_model(width=8, input_size=(64, 64)).named_parameters())
    moved = 0
    for name, value in ranks[0]["parameters"].items():
        assert torch.equal(value, ranks[1]["parameters"][name]), name
        moved += not torch.equal(value, initial[name])
    assert moved > len(initial) // 2  # the ranks did train, and in step
    first, second = (r["history"][0] for r in ranks)
    assert first["loss"] == pytest.approx(second["loss"])  # averaged over ranks
    assert first["AP"] == second["AP"]  # rank 0 scored the union of both shards
    assert (tmp_path / "latest.pt").is_file() and (tmp_path / "results_epoch2.json").is_file()

    config.solver.epochs = 3
    latest = str(tmp_path / "latest.pt")
    mp.spawn(ddp_worker, args=(free_port(), config.to_dict(), str(tmp_path), latest), nprocs=2, join=True)
    resumed = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert [row["epoch"] for row in resumed[1]["history"]] == [1, 2, 3]  # rank 1 got rank 0's checkpoint
    for name, value in resumed[0]["parameters"].items():
        assert torch.equal(value, resumed[1]["parameters"][name]), name
