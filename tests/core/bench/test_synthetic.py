"""Generated material for checks without a data set: deterministic frames, boxes and a video whose
det.txt `--detector file:` reads back."""

import cv2
import numpy as np

from core.bench import synthetic
from core.track.motchallenge import detections_by_frame, load_detections


def test_frames_and_boxes_are_deterministic_and_one_figure_leaves_the_frame():
    size = (320, 240)
    assert np.array_equal(synthetic.frame(3, size, 3), synthetic.frame(3, size, 3))
    boxes = synthetic.people_boxes(0, size, 3)
    assert boxes.shape == (3, 4) and (boxes[:, 2] > boxes[:, 0]).all()
    assert boxes[-1, 2] > size[0], "crops past the border are checked too"
    assert not np.array_equal(boxes, synthetic.people_boxes(5, size, 3)), "they walk"


def test_the_video_and_its_detections_agree(tmp_path):
    video, det = synthetic.write_video(tmp_path / "walkers.mp4", 5, (320, 240), 3)
    capture = cv2.VideoCapture(str(video))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    capture.release()
    by_frame = dict(detections_by_frame(load_detections(det), 5))
    assert sorted(by_frame) == [1, 2, 3, 4, 5] and all(len(d) == 3 for d in by_frame.values())
