"""The page: how the run ended comes first, then the run's facts, a table of contents whose links
all land, and the videos' sections, failed ones first."""

import html
import re
from html.parser import HTMLParser

import pytest

from core.report.outputs import read_outputs
from core.report.page import page
from core.report.sections import Section
from tests.support.report_runs import write_summary


class Outline(HTMLParser):
    """The element ids, the in-page links, the classes of the <div>s directly in <body> and the text."""

    def __init__(self) -> None:
        super().__init__()
        self.ids, self.links, self.body_divs, self.depth, self.text = [], [], [], 0, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.append(attrs["id"])
        if tag == "a" and attrs.get("href", "").startswith("#"):
            self.links.append(attrs["href"][1:])
        if tag == "div" and self.depth == 0:
            self.body_divs.append(attrs.get("class"))
        if tag in ("div", "main", "section", "nav"):
            self.depth += 1

    def handle_endtag(self, tag):
        if tag in ("div", "main", "section", "nav"):
            self.depth -= 1

    def handle_data(self, data):
        self.text.append(data)


def outline(text: str) -> Outline:
    parser = Outline()
    parser.feed(text)
    return parser


def sections_for(run) -> list[Section]:
    return [
        Section(
            v["stem"],
            v["status"],
            {"status": v["status"], "error": v.get("error")},
            f"<h2>{html.escape(v['stem'])}</h2>",
        )
        for v in run.ordered_videos()
    ]


def videos():
    return [
        {"stem": "a", "source": "a.mp4", "status": "done", "frames": 5, "fps": 10.0},
        {"stem": "b<script>", "source": "b.mp4", "status": "error", "error": "moov atom not found"},
    ]


@pytest.mark.parametrize(
    ("fields", "first"),
    [
        ({}, "failed"),
        ({"interrupted": True, "finished": False}, "interrupted"),
        ({"failure": "cannot write x: No space left on device", "finished": False}, "failed"),
    ],
)
def test_how_the_run_ended_is_the_first_thing_on_the_page(tmp_path, fields, first):
    write_summary(tmp_path, videos(), **fields)
    run = read_outputs(tmp_path)
    shape = outline(page(run, sections_for(run)))
    assert shape.body_divs[0] == f"banner {first}" and shape.ids[0] == "state"
    assert run.state().line in "".join(shape.text)


def test_untrained_weights_get_a_red_banner_right_below(tmp_path):
    write_summary(tmp_path, videos(), weights="untrained")
    run = read_outputs(tmp_path)
    shape = outline(page(run, sections_for(run)))
    assert shape.body_divs[:2] == ["banner failed", "banner untrained"]
    assert "poses in this report are meaningless" in "".join(shape.text)


def test_every_contents_link_lands_on_a_section_failed_videos_first(tmp_path):
    write_summary(tmp_path, videos())
    run = read_outputs(tmp_path)
    text = page(run, sections_for(run))
    shape = outline(text)
    assert shape.links == ["video-1", "video-2"] and set(shape.links) <= set(shape.ids)
    assert text.index("<h2>b&lt;script&gt;</h2>") < text.index("<h2>a</h2>")  # the error first
    assert "<script>" not in text  # a stem is text, never markup, in the contents too


def test_the_page_loads_nothing_from_anywhere(tmp_path):
    write_summary(tmp_path, videos())
    run = read_outputs(tmp_path)
    text = page(run, sections_for(run))
    assert "default-src 'none'; img-src data:" in text
    assert not re.search(r"(src|href)=\"(https?:|//)", text)


def test_the_run_s_facts_are_listed(tmp_path):
    write_summary(tmp_path, videos(), wall_s=3725.0)
    run = read_outputs(tmp_path)
    text = "".join(outline(page(run, sections_for(run))).text)
    for words in (
        "2: 1 done, 0 skipped, 1 failed, 0 interrupted",
        "1 h 2 min 5 s",
        "10.00 frames per second (5 frames)",
        "HRNet-W32 preset baseline input 192x256",
        "trained; checkpoint hrnet-w32",
        "hog, every frame",
        "eager, cpu",
        "online (Kalman + Hungarian), motion model steady",
    ):
        assert words in text
