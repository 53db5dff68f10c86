"""Output sinks: every format parses back to what was written, and nothing complete-looking exists
until close() — not after abort(), not after a SIGKILL mid-write."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from core.errors import UserError
from core.keypoints import NAMES, NUM_JOINTS, SKELETON
from core.records import Track
from core.video.formats import open_sinks, output_paths
from core.video.sinks import CocoSink, JsonlSink, VideoSink
from core.video.sources import open_source
from tests.support.helpers import ROOT

FORMATS = {"video", "jsonl", "csv", "coco", "mot"}


def make_tracks(frame_index: int, width: int, height: int) -> list[Track]:
    """Two people with keypoints inside their boxes, and one box-only track; seeded per frame."""
    rng = np.random.default_rng(frame_index)
    tracks = []
    for track_id in (1, 2):
        x1, y1 = rng.uniform(0, width / 2), rng.uniform(0, height / 2)
        box = np.array([x1, y1, x1 + rng.uniform(60, 200), y1 + rng.uniform(120, 300)])
        keypoints = np.column_stack(
            [
                rng.uniform(box[0], box[2], NUM_JOINTS),
                rng.uniform(box[1], box[3], NUM_JOINTS),
                rng.uniform(0.05, 1.0, NUM_JOINTS),
            ]
        )
        tracks.append(Track(id=track_id, box=box, score=float(rng.uniform(0.5, 1.0)), keypoints=keypoints))
    tracks.append(Track(id=7, box=np.array([10.0, 20.0, 50.5, 120.25]), score=0.33333, keypoints=None))
    return tracks


@pytest.fixture(scope="module")
def clip(shared_data):
    """Real frames from street.mp4 with synthetic tracks: [(Frame, tracks)]."""
    with open_source(str(shared_data / "video" / "street.mp4")) as source:
        frames = list(source)
    return [(f, make_tracks(f.index, f.image.shape[1], f.image.shape[0])) for f in frames]


def write_all(out_dir: Path, clip, formats=FORMATS) -> dict[str, Path]:
    frame0 = clip[0][0]
    size = (frame0.image.shape[1], frame0.image.shape[0])
    sinks = open_sinks(out_dir, "street", formats, fps=5.0, size=size)
    for frame, tracks in clip:
        for sink in sinks:
            sink.write(frame, tracks, None)
    for sink in sinks:
        sink.close()
    return output_paths(out_dir, "street", formats)


def test_every_format_is_written_and_parses_back(tmp_path, clip):
    paths = write_all(tmp_path, clip)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths.values())

    lines = paths["jsonl"].read_text().splitlines()
    assert len(lines) == len(clip)
    for line, (frame, tracks) in zip(lines, clip, strict=True):
        record = json.loads(line)
        assert record["frame"] == frame.index and record["time"] == pytest.approx(frame.time, abs=1e-4)
        assert [t["id"] for t in record["tracks"]] == [t.id for t in tracks]
        first = record["tracks"][0]
        assert first["box"] == [round(v, 2) for v in tracks[0].box.tolist()]
        assert first["score"] == round(tracks[0].score, 4)
        assert np.allclose(first["keypoints"], tracks[0].keypoints, atol=0.006)
        assert record["tracks"][2]["keypoints"] is None

    with open(paths["csv"], newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == sum(len(tracks) for _, tracks in clip)
    assert list(rows[0])[:8] == ["frame", "time", "id", "x1", "y1", "x2", "y2", "score"]
    assert list(rows[0])[8:11] == ["nose_x", "nose_y", "nose_score"] and len(rows[0]) == 8 + 3 * len(NAMES)
    frame, tracks = clip[1]
    row = rows[3]  # frame 1, first track
    assert int(row["frame"]) == 1 and int(row["id"]) == tracks[0].id
    assert float(row["left_wrist_x"]) == pytest.approx(
        tracks[0].keypoints[NAMES.index("left_wrist"), 0], abs=0.006
    )
    assert rows[2]["nose_x"] == ""  # the box-only track

    mot = np.loadtxt(paths["mot"], delimiter=",", ndmin=2)
    assert mot.shape == (len(rows), 10) and mot[0, 0] == 1 and (mot[:, 7:] == -1).all()
    x1, y1, x2, y2 = clip[0][1][0].box
    assert mot[0, 2:6] == pytest.approx([x1, y1, x2 - x1, y2 - y1], abs=0.006)

    video = cv2.VideoCapture(str(paths["video"]))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == len(clip)
    assert int(video.get(cv2.CAP_PROP_FRAME_WIDTH)) == clip[0][0].image.shape[1]
    video.release()


def coco_ground_truth(clip) -> dict:
    """COCO keypoint ground truth made from the same frames and tracks (all keypoints visible)."""
    images, annotations = [], []
    for frame, tracks in clip:
        height, width = frame.image.shape[:2]
        images.append(
            {"id": frame.index + 1, "width": width, "height": height, "file_name": f"{frame.index}.jpg"}
        )
        for t in tracks:
            if t.keypoints is None:
                continue
            x1, y1, x2, y2 = t.box.tolist()
            flat = np.column_stack([t.keypoints[:, :2], np.full(NUM_JOINTS, 2.0)]).ravel().tolist()
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": frame.index + 1,
                    "category_id": 1,
                    "iscrowd": 0,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "keypoints": flat,
                    "num_keypoints": NUM_JOINTS,
                }
            )
    category = {
        "id": 1,
        "name": "person",
        "keypoints": list(NAMES),
        "skeleton": [[a + 1, b + 1] for a, b in SKELETON],
    }
    return {"images": images, "annotations": annotations, "categories": [category]}


def test_coco_results_load_in_pycocotools_and_score_perfectly_against_themselves(tmp_path, clip, capsys):
    paths = write_all(tmp_path, clip, {"coco"})
    results = json.loads(paths["coco"].read_text())
    assert len(results) == 2 * len(clip)  # box-only tracks have no keypoint result
    first_track = clip[0][1][0]
    confident = first_track.keypoints[:, 2][first_track.keypoints[:, 2] > 0.2]
    assert results[0]["score"] == pytest.approx(first_track.score * confident.mean(), abs=1e-4)
    assert results[0]["image_id"] == 1 and results[0]["track_id"] == 1 and len(results[0]["keypoints"]) == 51

    gt = COCO()
    gt.dataset = coco_ground_truth(clip)
    gt.createIndex()
    dt = gt.loadRes(str(paths["coco"]))
    evaluator = COCOeval(gt, dt, "keypoints")
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    assert evaluator.stats[0] == pytest.approx(1.0)  # AP: the results are the ground truth's keypoints


def test_coco_image_id_map_renumbers_and_skips_unmapped_frames(tmp_path, clip):
    sink = CocoSink(tmp_path / "x.coco.json", image_ids={0: 397133, 2: 42})
    for frame, tracks in clip:
        sink.write(frame, tracks, None)
    sink.close()
    ids = [r["image_id"] for r in json.loads((tmp_path / "x.coco.json").read_text())]
    assert ids == [397133, 397133, 42, 42]


def test_video_sink_writes_the_annotated_image_when_given(tmp_path, clip):
    frame = clip[0][0]
    size = (frame.image.shape[1], frame.image.shape[0])
    with VideoSink(tmp_path / "white.mp4", fps=5, size=size) as sink:
        for frame, tracks in clip:
            sink.write(frame, tracks, np.full_like(frame.image, 255))
    video = cv2.VideoCapture(str(tmp_path / "white.mp4"))
    ok, image = video.read()
    video.release()
    assert ok and image.mean() > 250


def test_nothing_complete_looking_before_close_and_nothing_at_all_after_abort(tmp_path, clip):
    frame0 = clip[0][0]
    sinks = open_sinks(
        tmp_path, "street", FORMATS, fps=5.0, size=(frame0.image.shape[1], frame0.image.shape[0])
    )
    for frame, tracks in clip[:3]:
        for sink in sinks:
            sink.write(frame, tracks, None)
    names = [p.name for p in tmp_path.iterdir()]
    assert len(names) == len(FORMATS) and all(n.startswith(".street.") and ".partial" in n for n in names)
    assert not any(p.exists() for p in output_paths(tmp_path, "street", FORMATS).values())
    for sink in sinks:
        sink.abort()
    assert list(tmp_path.iterdir()) == []


def test_jsonl_header_line_is_optional(tmp_path, clip):
    with JsonlSink(tmp_path / "h.jsonl", header={"weights": "untrained"}) as sink:
        sink.write(*clip[0])
    lines = (tmp_path / "h.jsonl").read_text().splitlines()
    assert json.loads(lines[0]) == {"header": {"weights": "untrained"}} and json.loads(lines[1])["frame"] == 0


def test_bad_output_requests_fail_with_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(UserError, match="cannot write to output folder"):
        open_sinks(blocker / "out", "x", {"jsonl", "csv"}, fps=5.0, size=(64, 48))
    with pytest.raises(UserError, match="unknown output format"):
        open_sinks(tmp_path, "x", {"jsonl", "gif"}, fps=5.0, size=(64, 48))


KILLED_WRITER = """
import sys, time
import numpy as np
from pathlib import Path
from core.records import Track
from core.video.formats import open_sinks
from core.video.sources import Frame
formats = {"video", "jsonl", "csv", "coco", "mot"}
sinks = open_sinks(Path(sys.argv[1]), "victim", formats, fps=10.0, size=(64, 48))
keypoints = np.column_stack([np.arange(17.0), np.arange(17.0), np.full(17, 0.9)])
tracks = [Track(id=1, box=np.array([1.0, 2.0, 30.0, 40.0]), score=0.9, keypoints=keypoints)]
for i in range(10**9):
    frame = Frame(index=i, time=i / 10, image=np.full((48, 64, 3), i % 255, np.uint8), source="synthetic")
    for sink in sinks:
        sink.write(frame, tracks, None)
    if i == 50:
        print("writing", flush=True)
"""


def test_sigkill_mid_write_leaves_only_partial_files(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(tmp_path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().strip() == "writing"
        time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == len(FORMATS)
    assert all(name.startswith(".victim.") and ".partial" in name for name in names), names
    assert not any(p.exists() for p in output_paths(tmp_path, "victim", FORMATS).values())


class TruncatingWriter:
    """OpenCV's writer on a full disk: it reports nothing, and the file ends without its index."""

    def __init__(self, writer: cv2.VideoWriter, path: Path):
        self.writer, self.path = writer, path

    def write(self, image) -> None:
        self.writer.write(image)

    def release(self) -> None:
        self.writer.release()
        data = self.path.read_bytes()
        self.path.write_bytes(data[: len(data) // 2])


def test_a_video_the_writer_left_unreadable_never_gets_its_final_name(tmp_path, clip):
    frame = clip[0][0]
    sink = VideoSink(tmp_path / "full.mp4", fps=5, size=(frame.image.shape[1], frame.image.shape[0]))
    sink._writer = TruncatingWriter(sink._writer, sink.temp)
    for frame, tracks in clip:
        sink.write(frame, tracks, None)
    with pytest.raises(OSError, match="unreadable file"):
        sink.close()
    assert os.listdir(tmp_path) == []  # neither the final name nor the temporary


def test_writing_closes_every_output_or_aborts_every_one(tmp_path):
    from core.video.sinks import writing
    from core.video.sources import Frame

    formats = {"video", "jsonl", "csv", "coco", "mot"}
    frame = Frame(index=0, time=0.0, image=np.zeros((48, 64, 3), np.uint8), source="synthetic")
    track = Track(id=1, box=np.array([1.0, 2.0, 30.0, 40.0]), score=0.9, keypoints=None)
    with writing(open_sinks(tmp_path / "done", "clip", formats, fps=10.0, size=(64, 48))) as sinks:
        for sink in sinks:
            sink.write(frame, [track], frame.image)
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == sorted(
        p.name for p in output_paths(tmp_path / "done", "clip", formats).values()
    )
    cut = open_sinks(tmp_path / "cut", "clip", formats, fps=10.0, size=(64, 48))
    with pytest.raises(KeyboardInterrupt), writing(cut) as sinks:  # Ctrl-C halfway
        sinks[0].write(frame, [track], frame.image)
        raise KeyboardInterrupt
    # nothing under a final name, no temporaries left
    assert list((tmp_path / "cut").iterdir()) == []
