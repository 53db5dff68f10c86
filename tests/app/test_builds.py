"""Model builds beside the running pipeline: the result comes back as a signal, a failure as its
error, and Cancel stops the build's thread at its next Python step, with nothing delivered."""

import threading
import time

import pytest

PyQt6 = pytest.importorskip("PyQt6")
from app.builds import ModelBuild, built_parts, describe_change  # noqa: E402
from core.pipeline import PipelineConfig  # noqa: E402
from tests.support.qt import wait_until  # noqa: E402


def collect(build: ModelBuild) -> list:
    """What the build delivers, connected before it starts."""
    got = []
    build.done.connect(lambda result, error: got.append((result, error)))
    build.start()
    return got


def test_a_build_delivers_its_result_or_its_error(qapp):
    build = ModelBuild(lambda: 42, "answer")  # held: a build nobody holds is gone with its signal
    done = collect(build)
    assert wait_until(lambda: done, 5) and done == [(42, None)]

    def broken():
        raise ValueError("no such layer")

    build = ModelBuild(broken, "broken")
    failed = collect(build)
    assert wait_until(lambda: failed, 5)
    assert failed[0][0] is None and str(failed[0][1]) == "no such layer"


def test_cancel_stops_a_long_build_at_once_and_nothing_comes_back(qapp):
    steps = []
    started = threading.Event()

    def compile_for_minutes():
        started.set()
        for step in range(6000):  # a build that would take ten minutes, in Python steps
            steps.append(step)
            time.sleep(0.1)
        return "compiled"

    build = ModelBuild(compile_for_minutes, "backend compile")
    done = collect(build)
    assert started.wait(5)
    time.sleep(0.3)
    began = time.monotonic()
    build.cancel()
    assert build.join(5) and time.monotonic() - began < 1.0  # the thread is gone within a step
    taken = len(steps)
    time.sleep(0.3)
    assert len(steps) == taken and done == [] and build.cancelled
    wait_until(lambda: False, 0.2)
    assert done == []


def test_the_panel_shows_what_is_built_while_the_old_model_runs_then_what_runs(
    make_window, checkpoint, long_video, monkeypatch
):
    import app.worker

    # The build waits for the test: on a fast machine a tiny model is built before anything is looked at.
    release, real = threading.Event(), app.worker.rebuild_models
    monkeypatch.setattr(app.worker, "rebuild_models", lambda *a, **k: release.wait(60) and real(*a, **k))
    window = make_window(None)
    window.open_sources([str(long_video)])
    assert wait_until(lambda: window.worker.frames_received >= 2, 60), window.status_text()
    panel = window.model_panel
    try:
        panel.input_size.setCurrentText("288x384")  # a new untrained model: built beside the running one
        assert wait_until(lambda: window.worker.build_status() is not None, 10)
        # the control snaps back to what runs when the build's start reaches the window (a queued signal)
        assert wait_until(lambda: panel.input_size.currentText() == "64x96", 5)
        window.refresh_stats()
        assert panel.build_status.isVisible() and "input 288x384" in panel.build_status.text()
        frames = window.worker.frames_received
        assert wait_until(lambda: window.worker.frames_received > frames, 30)  # the old model goes on
        building = window.worker._build
        panel.interval.setValue(2)  # a setting that builds nothing: applied now, the build goes on
        assert wait_until(lambda: window.worker.config.interval == 2, 10)
        assert window.worker._build is building and window.worker.config.input_size != (288, 384)
    finally:
        release.set()
    assert wait_until(lambda: window.worker.config.input_size == (288, 384), 60), window.status_text()
    assert window.worker.config.interval == 2
    assert wait_until(lambda: panel.input_size.currentText() == "288x384", 5)  # the queued signal came
    window.refresh_stats()
    assert not panel.build_status.isVisible()
    frames = window.worker.frames_received
    assert wait_until(lambda: window.worker.frames_received > frames, 30)  # the new model runs


def test_status_lines_speak_the_panel_s_words():
    assert describe_change({"width": 48}) == "applied: width W48"
    assert describe_change({"interval": 3, "flip": True}) == "applied: detector every 3 frames, flip test on"
    assert (
        describe_change({"interval": 1, "checkpoint": None})
        == "applied: detector on every frame, untrained model"
    )
    assert describe_change({"checkpoint": "/w/hrnet_w32.pth", "input_size": (288, 384)}) == (
        "applied: checkpoint hrnet_w32.pth, input 288x384"
    )
    assert describe_change({"backend": "onnxruntime"}) == "applied: backend onnxruntime"


def test_only_settings_that_build_something_are_built_parts():
    built = built_parts(PipelineConfig(width=48, interval=3))
    assert built["width"] == 48 and "interval" not in built  # detecting less often builds nothing
