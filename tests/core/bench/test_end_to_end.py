"""The end-to-end comparison's two sides on a tiny clip: the official demo's per-person loop runs
and writes its video; the clip is street then soccer, looped back and forth."""

import cv2

from core.bench import end_to_end
from tests.support.helpers import limit_torch_threads

_torch_threads = limit_torch_threads(2)


def test_the_demo_loop_runs_per_person_and_writes_its_video(shared_data, tmp_path):
    clip = end_to_end.make_clip(tmp_path / "clip.mp4", 3, shared_data / "video")
    capture = cv2.VideoCapture(str(clip))
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    assert (int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), size) == (3, end_to_end.SIZE)
    capture.release()
    result = end_to_end.demo_loop(clip, tmp_path / "demo.mp4", width=8)
    assert result["frames"] == 3 and result["fps"] > 0 and result["people"] > 0, result
    assert (tmp_path / "demo.mp4").stat().st_size > 0
