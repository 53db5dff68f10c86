"""`run.py track` end to end against the official HRNet demo's approach, on the bench clip.

    python -m core.bench.end_to_end --frames 60 --repeats 3 --threads 2

The official demo (deep-high-resolution-net.pytorch, `demo/inference.py`) reads a frame, detects the
people in it, and for each person cuts a crop with cv2.warpAffine and runs the pose model on that
crop alone, in fp32, then decodes, draws and writes the frame: one person at a time, one stage at a
time. `demo_loop` below does exactly that with our codec (HOG as the detector, since no detector
weights can be downloaded; `eager-plain` fp32 as the model). `track` runs the same clip with the
same untrained W32 (seeded, identical weights), the same HOG every frame and the annotated video as
its only output, with its defaults otherwise: `--backend auto` (what that picks on this CPU and why is
printed), batched crops, the threaded pipeline and the tracker.

The clip: street.mp4 and soccer.mp4 (../shared/data/video) scaled to 1280x720, one after the other,
looped back and forth to `--frames`. FPS for both is (frames - 1) / time from the first frame out to
the last, the definition `track`'s summary.json uses; model loading is outside it for both. A warm-up
run of each comes first (caches, the ONNX export); the timed runs alternate, medians over repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from core.cli.entry import run_command, script
from core.cli.options import CommandParser, whole_number

SHARED_VIDEO = Path(__file__).resolve().parents[3] / "shared" / "data" / "video"
SIZE = (1280, 720)


def make_clip(path: Path, frames: int, footage: Path = SHARED_VIDEO) -> Path:
    """street then soccer, each frame scaled to 1280x720, looped back and forth (no jump) to `frames`."""
    clip = []
    for name in ("street.mp4", "soccer.mp4"):
        capture = cv2.VideoCapture(str(footage / name))
        while True:
            ok, image = capture.read()
            if not ok:
                break
            clip.append(cv2.resize(image, SIZE, interpolation=cv2.INTER_LINEAR))
        capture.release()
    if not clip:
        raise SystemExit(f"no footage in {footage}")
    order = list(range(len(clip))) + list(range(len(clip) - 2, 0, -1))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, SIZE)
    for i in range(frames):
        writer.write(clip[order[i % len(order)]])
    writer.release()
    return path


def demo_loop(video: Path, out: Path, width: int) -> dict:
    """The official demo's loop: detect, then each person's crop through the fp32 model alone."""
    from core.detect import create_detector
    from core.model import build_model
    from core.pose import codec
    from core.runtime import create_backend
    from core.video.drawing import draw_skeleton

    model = build_model(width=width, seed=0).eval()
    size = tuple(model.config.input_size)
    backend = create_backend(model, "eager-plain", "cpu")
    detector = create_detector("hog")
    capture = cv2.VideoCapture(str(video))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, SIZE)
    finished, people = [], 0
    with torch.no_grad():
        while True:
            ok, image = capture.read()
            if not ok:
                break
            for detection in detector(image, len(finished)):
                crops, centers, scales = codec.crop_boxes(image, np.asarray(detection.box)[None], size)
                heatmaps = backend(codec.normalize_crops(crops))
                keypoints = codec.heatmaps_to_keypoints(heatmaps.numpy(), centers, scales)
                draw_skeleton(image, keypoints[0])
                people += 1
            writer.write(image)
            finished.append(time.perf_counter())
    capture.release()
    writer.release()
    frames = len(finished)
    return {"fps": (frames - 1) / (finished[-1] - finished[0]), "frames": frames, "people": people / frames}


def track_run(video: Path, out: Path, width: int) -> dict:
    """`run.py track` with its defaults, HOG every frame, the annotated video as the only output."""
    from core.cli.track import main as track_main

    argv = ["--source", str(video), "--out", str(out), "--checkpoint", "none", "--width", str(width)]
    argv += ["--detector", "hog", "--formats", "video", "--no-progress", "--no-report", "--verbose"]
    code = run_command(track_main, argv)
    summary = json.loads((out / "summary.json").read_text())
    entry = summary["videos"][0]
    if code != 0 or entry.get("status") != "done":
        raise SystemExit(f"track failed (exit {code}): {entry.get('error')}")
    return {"fps": entry["fps"], "frames": entry["frames"], "people": entry.get("people"), "backend": summary}


def main(argv: list[str]) -> int:
    parser = CommandParser(
        prog="python -m core.bench.end_to_end",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--frames", type=whole_number("--frames", 2), default=60)
    parser.add_argument("--repeats", type=whole_number("--repeats", 1), default=3)
    parser.add_argument("--threads", type=whole_number("--threads", 1), default=None, help="torch threads")
    parser.add_argument("--width", type=whole_number("--width", 1), default=32)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from core.runtime import cpu_isa, cpu_name

    with tempfile.TemporaryDirectory(prefix="end-to-end-") as tmp:
        work = Path(tmp)
        clip = make_clip(work / "clip.mp4", args.frames)
        print(
            f"machine: {cpu_name()} ({cpu_isa()}), {os.cpu_count()} logical CPUs, torch threads "
            f"{torch.get_num_threads()}, OpenCV threads {cv2.getNumThreads()}"
        )
        print(
            f"versions: python {platform.python_version()}, torch {torch.__version__}, "
            f"opencv {cv2.__version__}"
        )
        print(
            f"clip: {args.frames} frames 1280x720 (street + soccer, looped); model W{args.width} untrained "
            "(seeded), HOG every frame; warm-up of each, then runs alternating; medians"
        )
        runs: dict[str, list[dict]] = {"demo": [], "track": []}
        for repeat in range(args.repeats + 1):
            for name, run in (("demo", demo_loop), ("track", track_run)):
                out = work / f"{name}{repeat}"
                out.mkdir()
                result = run(clip, out / "out.mp4" if name == "demo" else out, args.width)
                if repeat:
                    runs[name].append(result)
                    print(f"  repeat {repeat}: {name} {result['fps']:.2f} FPS", flush=True)
        track_summary = runs["track"][-1]["backend"]
        demo = statistics.median(r["fps"] for r in runs["demo"])
        ours = statistics.median(r["fps"] for r in runs["track"])
        people = runs["demo"][-1]["people"]
        print("\n| approach | FPS (median) | people per frame |")
        print("|---|--:|--:|")
        print(f"| official demo's loop: HOG, per-person eager-plain fp32 | {demo:.2f} | {people:.1f} |")
        backend = track_summary.get("backend", "?")
        print(
            f"| `run.py track` (backend auto: {backend}) | {ours:.2f} | {runs['track'][-1]['people']:.1f} |"
        )
        print(f"\ntrack / official demo: {ours / demo:.2f}×")
    return 0


if __name__ == "__main__":
    script(main)
