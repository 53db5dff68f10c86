"""What a person at the screen meets in the main window: a panel that fits, Space that pauses from
anywhere, a Source box that never completes on its own, tiles that say how fresh they are, status
lines in the panel's words."""

import pytest

PyQt6 = pytest.importorskip("PyQt6")
from PyQt6.QtCore import QPoint, QRect, Qt  # noqa: E402
from PyQt6.QtTest import QTest  # noqa: E402
from PyQt6.QtWidgets import QDockWidget, QLabel, QWidget  # noqa: E402

from app.video_view import VideoView  # noqa: E402
from app.worker import SourceHealth  # noqa: E402
from core.pipeline.stats import SourceStats, StageLatency  # noqa: E402
from tests.support.qt import settle, wait_until  # noqa: E402


def busy_stats(name: str) -> SourceStats:
    """Statistics with the widest numbers a long day brings."""
    stages = {
        stage: StageLatency(12345.6, 23456.7)
        for stage in ("capture", "detect", "pose", "track", "draw", "sink", "total")
    }
    return SourceStats(name, 9_876_543, 123.4, 120.1, 12.3, 14, 98_765, 1_234_567, stages)


def clipped_widgets(window) -> list[str]:
    """Widgets of the Controls dock not wholly inside its visible area, and labels narrower than
    their text."""
    scroll = window.findChild(QDockWidget, "controls").widget()
    viewport, content = scroll.viewport(), scroll.widget()
    problems = []
    if scroll.verticalScrollBar().maximum() or scroll.horizontalScrollBar().maximum():
        problems.append("the panel scrolls")
    for child in content.findChildren(QWidget):
        if not child.isVisibleTo(content):
            continue
        where = QRect(child.mapTo(viewport, QPoint(0, 0)), child.size())
        name = f"{child.metaObject().className()} {getattr(child, 'text', lambda: '')()!r}"
        if not viewport.rect().contains(where):
            problems.append(f"{name} at {where.getRect()} outside {viewport.rect().getRect()}")
        if isinstance(child, QLabel) and not child.wordWrap() and child.sizeHint().width() > child.width():
            problems.append(f"{name} cut: {child.sizeHint().width()} > {child.width()} px")
    return problems


@pytest.mark.parametrize("size", [(1280, 760), (1440, 900), (1600, 1000)])
def test_every_control_and_statistic_is_visible_without_scrolling(make_window, size):
    """1280×800 less a title bar, the old default, maximised on 1600×1000: nothing cut off, with two
    long source names, the widest numbers and a model build on show."""
    window = make_window(None)
    window.resize(*size)
    names = ["rtsp://***@camera-loading-bay-north.factory.local:554/stream1", "/videos/shift-2/huge4k.mp4"]
    health = {name: SourceHealth(True, 25.0, 12.3, None) for name in names}
    window.stats_panel.show_stats({name: busy_stats(name) for name in names}, {names[1]}, None, health)
    window.model_panel.running.setText("onnxruntime · fp32-strict · cuda:0")
    window.model_panel.show_build(("backend compile (compiling takes minutes on a CPU)", 75.0))
    settle(0.3)
    problems = clipped_widgets(window)
    assert problems == [], "\n".join(problems)


def test_space_pauses_from_the_source_field_and_types_only_into_an_edited_one(
    make_window, checkpoint, long_video
):
    window = make_window(checkpoint)
    window.open_sources([str(long_video)])
    assert wait_until(lambda: window.worker.frames_received >= 2), window.status_text()
    field = window.source_box.lineEdit()
    field.setFocus()
    QTest.keyClick(field, Qt.Key.Key_Space)  # the field shows what is open: Space is for the video
    assert window.worker.paused and window.status_text() == "paused — Space resumes"
    assert field.text() == str(long_video)
    QTest.keyClick(window.model_panel.backend, Qt.Key.Key_Space)  # from a panel control too
    assert not window.worker.paused and window.status_text() == "resumed"
    field.setFocus()
    field.end(False)
    QTest.keyClicks(field, "x y")  # typing a new path: a space is text there
    assert field.text().endswith("x y") and not window.worker.paused


def test_the_source_box_suggests_from_history_but_never_fills_in(make_window, tmp_path):
    window = make_window(None)
    cam10 = "rtsp://127.0.0.1:9/cam10"
    window.source_box.insertItem(0, cam10, cam10)  # opened earlier
    window.source_box.setCurrentIndex(-1)
    field = window.source_box.lineEdit()
    field.setFocus()
    QTest.keyClicks(field, "rtsp://127.0.0.1:9/cam1")
    assert field.text() == "rtsp://127.0.0.1:9/cam1" and field.selectedText() == ""
    assert window.source_text() == "rtsp://127.0.0.1:9/cam1"  # what was typed, not cam10
    popup = window.source_box.completer().popup()
    assert wait_until(popup.isVisible, 2) and popup.model().rowCount() == 1  # offered in a list


def test_the_recording_mark_shows_only_while_recording(make_window):
    window = make_window(None)
    assert not window.record_label.isVisible()  # no empty red square in the status bar
    window.toggle_recording()
    assert wait_until(window.record_label.isVisible, 10)
    window.toggle_recording()
    assert wait_until(lambda: not window.record_label.isVisible(), 10)


def test_a_snapshot_is_what_the_view_shows_hud_and_banner_included(qapp):
    """Snapshots dropped the IDs, the FPS and the untrained banner that recordings keep."""
    from PyQt6.QtGui import QColor, QImage

    from app.video_view import Tag

    frame = QImage(640, 360, QImage.Format.Format_RGB888)
    frame.fill(QColor(90, 90, 90))
    view = VideoView("cam")
    view.resize(320, 180)
    view.set_image(frame, tags=[Tag(300.0, 200.0, "7", (0, 200, 255))])  # BGR: orange
    view.set_fps(12.5)
    picture = view.snapshot("untrained weights: poses are meaningless")
    assert (picture.width(), picture.height()) == (640, 360)  # the frame's own resolution
    assert picture.pixelColor(302, 190).getRgb()[:3] == (255, 200, 0)  # the ID tag above the box
    assert picture.pixelColor(2, 355).getRgb()[:3] == (179, 38, 30)  # the banner along the bottom
    fps = view._fps_rect(view.image_rect(picture.rect()), 1.0)
    assert picture.pixelColor(fps.left() + 1, fps.top() + 1).lightness() < 60  # the FPS box
    assert picture.pixelColor(320, 100).getRgb()[:3] == (90, 90, 90)  # the picture itself untouched
