"""A video's section of the report, made from its files and kept in the cache while they stay the same."""

import json

from core.report.sections import SIZES, cache_path, section, sizes_for
from tests.support.helpers import loop_video
from tests.support.report_runs import failed_entry, write_video_outputs


def test_a_done_video_shows_counts_thumbnails_plots_and_where_people_stood(tmp_path):
    video = write_video_outputs(tmp_path, "clip", 20)
    built = section(tmp_path, video, sizes_for(1))
    assert built.status == "done" and built.row["identities"] == 3 and built.row["duration_s"] == 0.8
    assert built.html.count('class="thumb"') == 6 and "from the annotated video" in built.html
    assert built.html.count('class="plot"') == 1 and built.html.count('class="heat"') == 1
    assert "<td>0.8 s</td>" in built.html  # video time from the JSONL's timestamps


def test_a_section_comes_from_the_cache_until_its_files_change(tmp_path):
    video = write_video_outputs(tmp_path, "clip", 12)
    first = section(tmp_path, video, sizes_for(1))
    cached = json.loads(cache_path(tmp_path, "clip").read_text())
    cached["html"] = "from the cache"
    cache_path(tmp_path, "clip").write_text(json.dumps(cached))
    assert section(tmp_path, video, sizes_for(1)).html == "from the cache"
    assert section(tmp_path, video, sizes_for(1), use_cache=False).html == first.html
    write_video_outputs(tmp_path, "clip", 14)  # rewritten (a second tracking pass, a rerun)
    assert "from the cache" not in section(tmp_path, video, sizes_for(1)).html
    assert section(tmp_path, video, sizes_for(500)).html.count('class="thumb"') == SIZES[-1][1].thumbs


def test_without_the_annotated_video_thumbnails_are_drawn_on_the_input(tmp_path, shared_data):
    video = write_video_outputs(tmp_path, "clip", 12)
    (tmp_path / "clip.mp4").unlink()
    video["source"] = str(loop_video(tmp_path / "input.mp4", shared_data / "video" / "street.mp4", 12))
    built = section(tmp_path, video, sizes_for(1))
    assert built.html.count('class="thumb"') == 6 and "from the annotated video" not in built.html


def test_without_a_jsonl_the_section_says_what_is_missing(tmp_path):
    video = write_video_outputs(tmp_path, "clip", 12)
    (tmp_path / "clip.jsonl").unlink()
    built = section(tmp_path, video, sizes_for(1))
    assert "No JSONL output" in built.html and 'class="plot"' not in built.html
    assert built.html.count('class="thumb"') == 6  # the annotated video still shows the frames


def test_a_failed_video_shows_its_error_line_escaped(tmp_path):
    built = section(tmp_path, failed_entry("bad", "cannot decode <bad>.mp4"), sizes_for(1))
    assert built.status == "error" and built.row["error"] == "cannot decode <bad>.mp4"
    assert "cannot decode &lt;bad&gt;.mp4" in built.html and "<bad>" not in built.html


def test_a_broken_file_costs_its_own_section_only(tmp_path):
    video = write_video_outputs(tmp_path, "clip", 12)
    (tmp_path / "clip.jsonl").write_bytes(b"\xff\xfe not utf-8 \xff\n")
    built = section(tmp_path, video, sizes_for(1))
    assert "this section could not be made" in built.html and "UnicodeDecodeError" in built.html
