"""The README and docs/ say what the code does: their links lead somewhere, their library example
runs, the zoo table names every entry, and CI runs the README's own test command."""

import os
import re
import subprocess
import sys

import pytest

from tests.support.helpers import ROOT, SHARED_DATA, require

README = ROOT / "README.md"
PAGES = [README, ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_leads_to_a_file_or_heading(page):
    text = page.read_text()
    headings = {_anchor(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}
    broken = []
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        if not path:
            if anchor not in headings:
                broken.append(target)
        elif not (page.parent / path).exists():
            broken.append(target)
    assert not broken, f"{page.name}: links to nothing: {broken}"


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second():
    lines = README.read_text().splitlines()
    block = lines[lines.index("```bash") + 1 : lines.index("```")]
    commands = [line for line in block if line and not line.startswith("#")]
    assert len(commands) == 2
    assert lines.index("```bash") < 10, "the commands come first"
    ci = (ROOT / ".ci" / "run").read_text().replace("pip install -q ", "pip install ")  # quieter, same
    assert commands[1] in ci, ".ci/run must run the README's test command"


def test_readme_stays_a_short_start():
    assert len(README.read_text().splitlines()) <= 200, "details belong in docs/"


def test_the_zoo_table_names_every_entry():
    from core.zoo.registry import ENTRIES

    table = (ROOT / "docs" / "zoo.md").read_text()
    missing = [entry.name for entry in ENTRIES if f"| `{entry.name}` |" not in table]
    assert not missing, f"docs/zoo.md's table lacks {missing}"


def test_the_readme_library_example_runs(tmp_path):
    """The example as written, with a small untrained model in place of the zoo download."""
    require((SHARED_DATA / "video" / "street.mp4").exists(), "shared data")
    text = README.read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    assert 'load_model("hrnet-w32")' in code
    code = code.replace(
        'load_model("hrnet-w32")', "build_model(width=8, input_size=(96, 128), seed=0), trained=False"
    ).replace("from core.model import load_model", "from core.model import build_model")
    code = code.replace("../shared/data/video/street.mp4", str(SHARED_DATA / "video" / "street.mp4"))
    script = tmp_path / "example.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split() for line in done.stdout.splitlines()]
    assert rows, "the example printed no tracks"
    assert {row[0] for row in rows} <= {str(i) for i in range(5)}  # frame indices of the 5-frame clip
