"""The report as a person sees it: opened in headless Chromium (Debian's `chromium`, installed by
.ci/run), it loads without a console error, every picture decodes, every link of the table of
contents lands on its section, and how the run ended is the first thing on the screen."""

import cv2
import numpy as np

from core.report import build_report
from tests.support.helpers import require, require_tool
from tests.support.report_runs import make_run


def browser(executable: str):
    try:
        from tests.support.browser import Chromium
    except ImportError:
        Chromium = None
    require(Chromium is not None, "websocket-client is not installed (pip install -e '.[test]')")
    return Chromium(executable, width=1280, height=900)


IMAGES = "[...document.images].map(i => [i.alt, i.complete, i.naturalWidth])"
LINKS = """[...document.querySelectorAll('a[href^="#"]')].map(a => [a.getAttribute('href'),
    document.getElementById(a.getAttribute('href').slice(1)) !== null])"""


def test_the_report_opens_cleanly_in_chromium(tmp_path):
    chromium = require_tool("chromium")
    out = make_run(tmp_path / "out", frames=(16, 10), failed=1, weights="untrained")
    report = build_report(out)
    with browser(chromium) as page:
        seconds = page.open(report)
        page.evaluate("Promise.all([...document.images].map(i => i.decode()))", awaited=True)
        assert page.console_errors() == []
        images = page.evaluate(IMAGES)
        assert len(images) == 2 * (6 + 2)  # per video: six thumbnails, the plots, the heat map
        assert [alt for alt, complete, width in images if not complete or width == 0] == []
        links = page.evaluate(LINKS)
        assert [href for href, _ in links] == ["#video-1", "#video-2", "#video-3"]
        assert all(found for _, found in links)
        first = page.evaluate("[...document.body.children].slice(0, 2).map(e => e.className)")
        assert first == ["banner failed", "banner untrained"]  # how the run ended, then the weights
        shot = cv2.imread(str(page.screenshot(tmp_path / "report.png")))
    assert shot.shape == (900, 1280, 3) and float(np.std(shot)) > 20  # drawn, not blank
    assert seconds < 20


def test_the_checks_see_a_broken_page(tmp_path):
    """What the test above relies on: a picture from elsewhere is blocked, logged, and never decodes;
    a link to nowhere is found out."""
    chromium = require_tool("chromium")
    page_file = tmp_path / "broken.html"
    page_file.write_text(
        '<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'\">"
        '</head><body><img alt="remote" src="http://127.0.0.1:9/x.png"><a href="#nowhere">x</a></body></html>'
    )
    with browser(chromium) as page:
        page.open(page_file)
        assert any("Content Security Policy" in line for line in page.console_errors())
        assert page.evaluate(IMAGES) == [["remote", True, 0]]
        assert page.evaluate(LINKS) == [["#nowhere", False]]
