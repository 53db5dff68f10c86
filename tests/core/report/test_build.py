"""The report as a whole: `build_report` from an output folder, and `RunReport` along a track run."""

import json

import pytest

from core.errors import UserError
from core.report import REPORT_NAME, RunReport, build_report
from core.report.sections import CACHE_DIR
from tests.support.report_runs import make_run, write_summary, write_video_outputs


def test_the_report_of_a_folder_has_a_section_per_video_and_no_leftovers(tmp_path):
    out = make_run(tmp_path / "out", frames=(12, 8), failed=1)
    (out / CACHE_DIR).mkdir()
    (out / CACHE_DIR / "gone.json").write_text("{}")  # a video of an earlier run in this folder
    path = build_report(out)
    text = path.read_text()
    assert path == out / REPORT_NAME
    assert text.count('<section id="video-') == 3 and text.count('class="plot"') == 2
    assert sorted(p.name for p in (out / CACHE_DIR).iterdir()) == ["broken1.json", "clip1.json", "clip2.json"]
    assert not [p for p in out.iterdir() if "partial" in p.name]


def test_a_report_can_go_elsewhere_and_a_folder_without_a_run_is_refused(tmp_path):
    out = make_run(tmp_path / "out", frames=(6,), failed=0)
    assert build_report(out, tmp_path / "elsewhere.html").is_file()
    with pytest.raises(UserError, match=r"no summary\.json"):
        build_report(tmp_path)


def test_along_a_run_sections_are_made_as_videos_finish_and_the_page_at_the_end(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    report = RunReport(out, inputs=2)
    entry = write_video_outputs(out, "first", 10)
    write_summary(out, [entry], finished=False)
    report.video_done([entry, {"stem": "bad", "status": "error", "error": "x"}])
    assert [p.name for p in (out / CACHE_DIR).iterdir()] == ["first.json"]
    assert "still running, or it was killed" in report.write().read_text()


def test_a_report_that_cannot_be_written_is_a_warning_never_an_error(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    write_summary(out, [])
    (out / REPORT_NAME).mkdir()  # a folder where the page goes
    assert RunReport(out, inputs=1).write() is None
    assert capsys.readouterr().err.startswith("warning: report not written: cannot write")
    assert RunReport(tmp_path / "nothing", inputs=1, enabled=False).write() is None


def test_the_picture_sizes_follow_the_run_s_planned_inputs_not_the_videos_done_so_far(tmp_path):
    out = make_run(tmp_path / "out", frames=(6,), failed=0, inputs=300)
    build_report(out)
    cached = json.loads((out / CACHE_DIR / "clip1.json").read_text())
    assert cached["html"].count('class="thumb"') == 4  # the sizes of a run of more than 200 inputs
