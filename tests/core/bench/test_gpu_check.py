"""`python -m core.bench.gpu_check`: what can be checked without a GPU. Without CUDA it refuses in one
line; its crop and track checks are device-agnostic and run here on the CPU (the parity and bench
parts need CUDA and run only on a lent GPU)."""

import pytest
import torch

from core.bench import gpu_check
from core.cli.entry import run_command
from tests.support.helpers import limit_torch_threads

_torch_threads = limit_torch_threads(2)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks behaviour on a machine without CUDA")
def test_without_cuda_it_says_so_in_one_line_and_fails(tmp_path, capsys):
    assert run_command(gpu_check.main, ["--out", str(tmp_path / "gpu")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: gpu_check needs an NVIDIA GPU and CUDA is not available on this machine"]
    assert not (tmp_path / "gpu").exists()


def test_crop_checks_pass_on_real_frames(shared_data):
    frames, boxes = gpu_check.coco_crops(shared_data)
    video_frames, video_boxes = gpu_check.video_frames(shared_data, per_video=1)
    assert len(video_frames) == 2 and (video_boxes[0][:, 2] > video_frames[0].shape[1]).any()
    checks = gpu_check.check_crops(frames + video_frames, boxes + video_boxes, torch.device("cpu"))
    assert [c.passed for c in checks] == [True, True], [c.detail for c in checks]
    assert checks[0].values["max_px"] < 0.01 and checks[1].values["relative_error"] < 1e-2


def test_track_check_reads_fps_and_stage_latencies(shared_data, tmp_path):
    small = ("--width", "8", "--input-size", "64x96", "--batch-size", "4")
    check = gpu_check.check_track(shared_data, tmp_path, "cpu", frames=1, model_args=small)
    assert check.passed, check.detail
    assert "street.mp4:" in check.detail and "soccer.mp4:" in check.detail and "FPS" in check.detail
    assert all(v["frames"] == 1 for v in check.values["summary"]["videos"])


def test_tracking_needs_no_filterpy():
    """A bare GPU machine has no filterpy: the default (numpy) Kalman engine must not import it."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['filterpy'] = None\n"
        "import numpy as np\n"
        "from core.track.tracker import Tracker, TrackerConfig\n"
        "Tracker(TrackerConfig()).update([], timestamp=0.0)\n"
        "print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
