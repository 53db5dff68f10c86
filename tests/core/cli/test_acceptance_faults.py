"""Issue 22, refused or accepted wrongly: inputs the formats allow are tracked (a variable-rate
video with a gap, 2000 fps, a 1x1 video, a 1-pixel-high image, files with a BOM, CRLF or extra
columns), inputs nothing can use are refused with a reason in one line (a 20000x20000 image, NaN
scores, absurd boxes, empty lists), never a failure deep inside."""

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.faults import TINY_TRACK, command, listing, one_error, succeeded
from tests.support.helpers import require_tool


def ffmpeg(*args) -> None:
    subprocess.run([require_tool("ffmpeg"), "-loglevel", "error", "-y", *map(str, args)], check=True)


def test_odd_but_valid_videos_and_images_are_tracked(tmp_path, capsys):
    """Each failed: the timestamp gap as a truncated file ("decoding stopped at frame 19 of 50"), the
    tiny frames on the annotated video's writer (MPEG-4 takes even sides)."""
    videos = tmp_path / "in"
    videos.mkdir()
    test_source = "testsrc=size=64x48:rate=25:duration=2"
    gap = ["-vf", r"select='not(between(n\,10\,40))'", "-vsync", "vfr"]  # 1.2 s without a frame
    ffmpeg("-f", "lavfi", "-i", test_source, *gap, "-c:v", "mpeg4", videos / "gap.mkv")
    ffmpeg("-f", "lavfi", "-i", test_source, *gap, "-c:v", "libvpx", videos / "gap.webm")
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=64x48:rate=2000",
        "-frames:v",
        "20",
        "-c:v",
        "mjpeg",
        videos / "fast.avi",
    )
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=size=2x2:rate=25",
        "-frames:v",
        "3",
        "-vf",
        "scale=1:1",
        "-c:v",
        "rawvideo",
        "-pix_fmt",
        "bgr24",
        videos / "dot.avi",
    )
    out = tmp_path / "out"
    done = succeeded(
        command(capsys, "track", "--source", videos, "--out", out, "--formats", "jsonl,video", *TINY_TRACK)
    )
    assert "4 done, 0 skipped, 0 failed" in done.out
    frames = {v["stem"]: v["frames"] for v in json.loads((out / "summary.json").read_text())["videos"]}
    assert frames == {"dot": 3, "fast": 20, "gap_mkv": 19, "gap_webm": 19}
    for stem in frames:  # every annotated video plays back whole
        assert int(cv2.VideoCapture(str(out / f"{stem}.mp4")).get(cv2.CAP_PROP_FRAME_COUNT)) == frames[stem]
    line = tmp_path / "line.png"
    cv2.imwrite(str(line), np.full((1, 640, 3), 128, np.uint8))
    succeeded(command(capsys, "track", "--source", line, "--out", tmp_path / "line", *TINY_TRACK))


def test_an_image_larger_than_8k_is_refused_from_its_header(tmp_path, capsys):
    """A 20000x20000 PNG took 3 GB and 25 s before the video writer gave up. Its header is enough to
    refuse it: the test writes a small PNG and gives it a 20000x20000 header (decoding is never
    reached; a real one would need 1.2 GB here too)."""
    image = tmp_path / "huge.png"
    cv2.imwrite(str(image), np.zeros((8, 8, 3), np.uint8))
    data = bytearray(image.read_bytes())
    data[16:24] = (20000).to_bytes(4, "big") * 2
    image.write_bytes(bytes(data))
    out = tmp_path / "out"
    done = command(capsys, "track", "--source", image, "--out", out, *TINY_TRACK)
    one_error(done, "20000x20000", "larger than 8192x8192", code=1)
    assert "WARNING" not in done.err and listing(out) == ["summary.json"]


@pytest.fixture
def det(tmp_path, shared_data) -> Path:
    path = tmp_path / "det.txt"
    path.write_bytes((shared_data / "mot15" / "TUD-Campus" / "det.txt").read_bytes())
    return path


def with_row(path: Path, row: str) -> Path:
    path.write_text(path.read_text() + row + "\n")
    return path


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ("5,-1,10,10,20,40,nan,-1,-1,-1", ("row 322", "NaN")),
        ("5,-1,10,10,1e300,40,0.9,-1,-1,-1", ("row 322", "beyond 1,000,000 pixels")),
    ],
    ids=["NaN score", "absurd box"],
)
def test_nan_scores_and_absurd_boxes_are_one_line_not_runtime_warnings(det, capsys, row, words):
    """Both were tracked silently with 16 RuntimeWarning lines (NaN compared, 1e300 squared)."""
    out = det.parent / "res.txt"
    done = command(capsys, "mot", "--det", with_row(det, row), "--out", out, "--quiet")
    one_error(done, *words)
    assert "RuntimeWarning" not in done.err and not out.exists()


def test_eval_refuses_a_nan_detection_threshold(tmp_path, capsys, shared_data):
    mini = shared_data / "coco_mini"
    argv = ["eval", "--checkpoint", tmp_path / "none.pt", "--coco-ann", mini / "person_keypoints.json"]
    one_error(command(capsys, *argv, "--images", mini / "images", "--det-score-threshold", "nan"), "finite")


def test_det_and_results_files_with_a_bom_crlf_or_extra_columns_are_read(det, tmp_path, capsys, shared_data):
    """A UTF-8 BOM (Windows editors) and columns after the tenth were refused; CRLF is read too."""
    text = det.read_text()
    bom = tmp_path / "bom"
    bom.mkdir()
    (bom / "det.txt").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    results = tmp_path / "res.txt"
    succeeded(command(capsys, "mot", "--det", bom / "det.txt", "--out", results, "--quiet"))
    baseline = tmp_path / "baseline.txt"
    succeeded(command(capsys, "mot", "--det", det, "--out", baseline, "--quiet"))
    assert results.read_text() == baseline.read_text()
    gt = tmp_path / "gt.txt"  # MOT17 style: consider, class, visibility, then a column of its own
    rows = [
        line.split(",")[:6] for line in (shared_data / "mot15" / "TUD-Campus" / "gt.txt").read_text().split()
    ]
    gt.write_text("".join(",".join([*row, "1", "1", "0.8", "-1", "note"]) + "\r\n" for row in rows))
    scored = succeeded(command(capsys, "mot-eval", "--gt", gt, "--res", results))
    header, _, row = scored.out.splitlines()
    assert int(row.split()[header.split().index("GT")]) == len(rows)  # every row read, pedestrians all


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "--presets", ""],
        ["bench", "--batch", ""],
        ["bench", "--backends", " , "],
        ["table1", "--presets", ""],
        ["mot", "--det", "det.txt", "--out", ""],
        ["track", "--source", "clip.mp4", "--out", ""],
        ["train", "--out", ""],
    ],
    ids=lambda argv: f"{argv[0]} {' '.join(argv[1:])!r}",
)
def test_an_empty_option_is_refused_not_read_as_the_default(tmp_path, capsys, argv, monkeypatch):
    """`--out ""` wrote into the current folder; `bench --presets ''` ran the whole default grid."""
    monkeypatch.chdir(tmp_path)
    one_error(command(capsys, *argv), "empty")
    assert listing(tmp_path) == []
