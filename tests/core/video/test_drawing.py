"""Drawing poses and tracks on a real video frame."""

import cv2
import numpy as np
import pytest

from core.errors import UserError
from core.keypoints import NUM_JOINTS, SKELETON
from core.records import Pose, Track
from core.video import drawing

# A person facing the camera: their left side is on the image's right.
STANDING = np.array(
    [
        [180, 130],
        [186, 124],
        [174, 124],
        [194, 128],
        [166, 128],
        [205, 160],
        [155, 160],
        [215, 210],
        [145, 210],
        [220, 255],
        [140, 255],
        [195, 260],
        [165, 260],
        [198, 330],
        [162, 330],
        [200, 400],
        [160, 400],
    ],
    dtype=np.float64,
)
BOX = np.array([130.0, 110.0, 230.0, 415.0])


@pytest.fixture(scope="module")
def street_frame(shared_data) -> np.ndarray:
    capture = cv2.VideoCapture(str(shared_data / "video" / "street.mp4"))
    ok, frame = capture.read()
    capture.release()
    assert ok and frame.shape == (540, 960, 3)
    return frame


def person(scores: float | np.ndarray = 0.9, dx: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    keypoints = np.column_stack([STANDING + np.array([dx, 0.0]), np.broadcast_to(scores, (NUM_JOINTS,))])
    return keypoints, BOX + np.array([dx, 0.0, dx, 0.0])


def changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return (before != after).any(axis=2)


def near(mask: np.ndarray, x: float, y: float, radius: int = 1) -> bool:
    x, y = round(x), round(y)
    return bool(mask[y - radius : y + radius + 1, x - radius : x + radius + 1].any())


def test_skeleton_is_drawn_on_the_limbs_and_nowhere_far_away(street_frame):
    keypoints, box = person()
    frame = street_frame.copy()
    result = drawing.draw_poses(frame, [Pose(box, 0.9, keypoints)])
    assert result is frame  # in place
    mask = changed(street_frame, frame)
    for a, b in SKELETON:
        middle = (keypoints[a, :2] + keypoints[b, :2]) / 2
        assert near(mask, *middle), f"limb {a}-{b} not drawn"
    for x, y in keypoints[:, :2]:
        assert mask[round(y), round(x)]
    # Nothing changes more than a few pixels outside the person's box.
    outside = np.ones_like(mask)
    x1, y1, x2, y2 = box.astype(int)
    outside[y1 - 4 : y2 + 5, x1 - 4 : x2 + 5] = False
    assert not mask[outside].any()


def test_limbs_are_coloured_by_body_side(street_frame):
    keypoints, box = person()
    frame = street_frame.copy()
    drawing.draw_poses(frame, [Pose(box, 0.9, keypoints)], draw_boxes=False)

    def color_at(a: int, b: int) -> np.ndarray:
        x, y = np.round((keypoints[a, :2] + keypoints[b, :2]) / 2).astype(int)
        return frame[y, x].astype(int)

    # Thigh midpoints: left (11-13), right (12-14); the hip link (11-12) crosses the body.
    assert np.abs(color_at(11, 13) - drawing.LEFT_COLOR).max() <= 40
    assert np.abs(color_at(12, 14) - drawing.RIGHT_COLOR).max() <= 40
    assert np.abs(color_at(11, 12) - drawing.CENTER_COLOR).max() <= 40


def test_low_score_joints_and_their_limbs_are_hidden(street_frame):
    scores = np.full(NUM_JOINTS, 0.9)
    scores[9] = 0.1  # left wrist, below the threshold
    keypoints, box = person(scores)
    frame = street_frame.copy()
    drawing.draw_poses(frame, [Pose(box, 0.9, keypoints)], threshold=0.3, draw_boxes=False)
    mask = changed(street_frame, frame)
    wrist, elbow = keypoints[9, :2], keypoints[7, :2]
    assert not near(mask, *wrist, radius=3)
    assert not near(mask, *((wrist + elbow) / 2), radius=1)
    assert near(mask, *elbow)
    # Lowering the threshold shows it again.
    drawing.draw_poses(frame, [Pose(box, 0.9, keypoints)], threshold=0.05, draw_boxes=False)
    assert changed(street_frame, frame)[round(wrist[1]), round(wrist[0])]


def test_same_track_id_gets_the_same_colour_everywhere(street_frame):
    assert drawing.id_color(7) == drawing.id_color(7)
    colors = [drawing.id_color(i) for i in range(1, 31)]
    distances = [np.abs(np.subtract(a, b)).max() for i, a in enumerate(colors) for b in colors[i + 1 :]]
    assert min(distances) >= 10  # neighbouring IDs are told apart

    def box_edge_color(dx: float) -> np.ndarray:
        keypoints, box = person(dx=dx)
        frame = street_frame.copy()
        drawing.draw_tracks(frame, [Track(7, box, 0.9, keypoints)], draw_labels=False)
        x = round(box[0])
        return frame[round((box[1] + box[3]) / 2), x]  # middle of the left edge

    first, second = box_edge_color(0.0), box_edge_color(500.0)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, drawing.id_color(7))


def test_track_label_and_box_without_keypoints(street_frame):
    _, box = person()
    frame = street_frame.copy()
    drawing.draw_tracks(frame, [Track(42, box, 0.8, None)])
    mask = changed(street_frame, frame)
    assert mask[int(box[1]) - 6, int(box[0]) + 3]  # the ID tag sits above the box
    assert not mask[int(box[1]) + 40 : int(box[3]) - 40, int(box[0]) + 10 : int(box[2]) - 10].any()


def test_status_panel_and_banner(street_frame):
    frame = street_frame.copy()
    drawing.draw_fps(
        frame, 29.97, ["backend eager · cpu"], banner="UNTRAINED WEIGHTS — poses are meaningless"
    )
    mask = changed(street_frame, frame)
    assert mask[2, :].all()  # the banner spans the width
    assert (frame[2, 600] == drawing.BANNER_COLOR).all()
    band = int((frame[:, 600] == drawing.BANNER_COLOR).all(axis=1).sum())
    assert 10 < band < 60
    corner = frame[band + 1, 1].astype(int)  # the panel below it darkens the frame behind its text
    np.testing.assert_allclose(corner, street_frame[band + 1, 1] * 0.4, atol=1)
    assert mask[band : band + 40, 5:60].any()
    assert not mask[300:, :].any()
    assert drawing.ascii_text("UNTRAINED WEIGHTS — poses") == "UNTRAINED WEIGHTS - poses"


def test_strokes_grow_with_the_frame():
    small = drawing.Strokes.for_frame(np.zeros((360, 640, 3), np.uint8))
    large = drawing.Strokes.for_frame(np.zeros((2160, 3840, 3), np.uint8))
    assert large.line > small.line and large.radius > small.radius and large.font_scale > small.font_scale


def test_keypoints_far_outside_or_not_finite_do_not_break_drawing(street_frame):
    keypoints, box = person()
    keypoints[0, :2] = [1e12, -1e12]
    keypoints[1, :2] = np.nan
    frame = street_frame.copy()
    drawing.draw_tracks(frame, [Track(3, box, 0.9, keypoints)], skeleton_in_id_color=True)
    assert changed(street_frame, frame).any()


def test_untrained_weights_get_a_banner_and_the_frame_stays_clean(street_frame):
    image = street_frame.copy()
    track = Track(id=1, box=np.array([100.0, 100.0, 200.0, 400.0]), score=0.9)
    honest = drawing.annotate(image, [track], trained=False)
    plain = drawing.annotate(image, [track], trained=True)
    band = np.any(honest != plain, axis=2)
    assert band[:20].mean() > 0.5  # a banner across the top, where the trained frame has none
    assert np.array_equal(image, street_frame)  # drawing happens on a copy
    assert "meaningless" in drawing.UNTRAINED_BANNER


def test_without_hud_the_frame_keeps_its_top_and_the_threshold_decides_which_joints_show(street_frame):
    """The app paints the HUD itself; the keypoint threshold is the user's, not a fixed 0.3."""
    image = street_frame.copy()
    keypoints = np.column_stack([np.linspace(120, 180, 17), np.linspace(150, 380, 17), np.full(17, 0.2)])
    track = Track(id=1, box=np.array([100.0, 100.0, 200.0, 400.0]), score=0.9, keypoints=keypoints)
    no_hud = drawing.DrawStyle(hud=False)
    bare = drawing.annotate(image, [track], trained=False, fps=12.0, style=no_hud)
    assert np.array_equal(bare[:40], image[:40])  # no banner, no FPS panel burned in
    hidden = drawing.annotate(image, [track], trained=True, style=no_hud)  # default threshold 0.3 > 0.2
    shown = drawing.annotate(
        image, [track], trained=True, style=drawing.DrawStyle(kpt_threshold=0.1, hud=False)
    )
    assert np.any(shown != hidden)
    with pytest.raises(UserError, match="keypoint threshold"):
        drawing.DrawStyle(kpt_threshold=1.5)
