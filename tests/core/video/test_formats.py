"""Output formats by name: the table names each format's sink and file suffix, and `open_sinks` /
`output_paths` follow the table, so a new format is one sink class and one row."""

import json
from pathlib import Path

import numpy as np
import pytest

from core.errors import UserError
from core.records import Track
from core.video import formats
from core.video.formats import FORMATS, SINKS, open_sinks, output_paths
from core.video.sources import Frame


def test_output_names_follow_the_stem(tmp_path):
    paths = output_paths(tmp_path, "cam1", FORMATS)
    assert {fmt: p.name for fmt, p in paths.items()} == {
        "video": "cam1.mp4",
        "jsonl": "cam1.jsonl",
        "csv": "cam1.csv",
        "coco": "cam1.coco.json",
        "mot": "cam1.mot.txt",
    }


def test_the_format_names_are_the_table_in_its_order():
    assert FORMATS == tuple(SINKS) == ("video", "jsonl", "csv", "coco", "mot")
    assert len({sink.SUFFIX for sink in SINKS.values()}) == len(SINKS)  # no two formats share a file


def test_an_unknown_format_is_one_line_naming_the_choices(tmp_path):
    with pytest.raises(UserError, match="unknown output format gif; choose from video, jsonl"):
        output_paths(tmp_path, "x", ["jsonl", "gif"])


def test_each_sink_gets_what_it_needs_of_the_clip(tmp_path):
    image = np.zeros((48, 64, 3), np.uint8)
    track = Track(3, np.array([4.0, 4.0, 30.0, 40.0]), 0.9, np.full((17, 3), 10.0))
    sinks = open_sinks(
        tmp_path, "x", ["jsonl", "coco"], 5.0, (64, 48), header={"weights": "trained"}, image_ids={0: 785}
    )
    for sink in sinks:
        sink.write(Frame(0, 0.0, image, "x"), [track], None)
        sink.close()
    assert json.loads((tmp_path / "x.jsonl").read_text().splitlines()[0]) == {
        "header": {"weights": "trained"}
    }
    assert json.loads((tmp_path / "x.coco.json").read_text())[0]["image_id"] == 785


def test_a_new_format_is_one_class_and_one_row(tmp_path, monkeypatch):
    class CountSink:
        """Writes how many tracks each frame had, one number a line."""

        SUFFIX = ".count.txt"

        @classmethod
        def for_clip(cls, path: Path, clip) -> "CountSink":
            return cls(path)

        def __init__(self, path: Path) -> None:
            self.path, self.lines = path, []

        def write(self, frame, tracks, annotated) -> None:
            self.lines.append(str(len(tracks)))

        def close(self) -> None:
            self.path.write_text("\n".join(self.lines) + "\n")

        def abort(self) -> None:
            pass

    monkeypatch.setitem(formats.SINKS, "count", CountSink)
    assert output_paths(tmp_path, "x", ["count"]) == {"count": tmp_path / "x.count.txt"}
    (sink,) = open_sinks(tmp_path, "x", ["count"], 5.0, (64, 48))
    sink.write(Frame(0, 0.0, None, "x"), [], None)
    sink.close()
    assert (tmp_path / "x.count.txt").read_text() == "0\n"
