"""Detectors by spec: the table of kinds gives the help text, the error for an unknown kind and each
kind's default score threshold (its class's own), and a new kind is one class and one row."""

import numpy as np
import pytest

from core.detect import specs
from core.detect.file import FileDetector
from core.detect.specs import DETECTOR_HELP, DETECTORS, ZOO_FORMATS, create_detector
from core.errors import UserError
from core.zoo.registry import DETECTOR_FORMATS


def test_the_help_lists_every_kind_as_its_class_writes_it():
    for kind in DETECTORS.values():
        assert kind.SPEC in DETECTOR_HELP
    assert DETECTOR_HELP.startswith("a model name")


def test_an_unknown_kind_names_every_kind():
    with pytest.raises(UserError) as caught:
        create_detector("yolo:x.onnx")
    message = str(caught.value)
    assert message.startswith("unknown detector 'yolo:x.onnx'; use a model name (")
    assert all(kind.SPEC in message for kind in DETECTORS.values())


def test_every_downloadable_format_has_a_loader():
    assert set(ZOO_FORMATS) == set(DETECTOR_FORMATS)


def test_no_threshold_given_keeps_the_detector_class_default(shared_data):
    path = shared_data / "mot15" / "TUD-Campus" / "det.txt"
    assert create_detector(f"file:{path}").score_threshold == FileDetector(path).score_threshold == -np.inf
    assert create_detector(f"FILE:{path}", score_threshold=0.5).score_threshold == 0.5


def test_a_new_kind_is_one_class_and_one_row(monkeypatch):
    class EveryoneDetector:
        """One box over the whole frame, scored `score_threshold`."""

        SPEC = "everyone[:SCORE]"

        @classmethod
        def from_spec(cls, rest: str, device: str = "auto", **options) -> "EveryoneDetector":
            return cls(float(rest or 1.0), **options)

        def __init__(self, score: float, score_threshold: float = 0.0) -> None:
            self.score, self.score_threshold = score, score_threshold

    monkeypatch.setitem(specs.DETECTORS, "everyone", EveryoneDetector)
    assert create_detector("everyone:0.7").score == 0.7
    assert create_detector("everyone").score_threshold == 0.0
    assert create_detector("everyone", score_threshold=0.4).score_threshold == 0.4
