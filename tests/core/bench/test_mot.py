"""`python -m core.bench.mot`: bad options are one error line."""

import pytest

from core.bench.mot import main
from core.errors import UserError


def test_bad_options_are_one_error_line(capsys, shared_data):
    with pytest.raises(UserError, match="--fps"):
        main(["--fps", "0", "--data", str(shared_data / "mot15")])
    with pytest.raises(UserError, match="--seed"):
        main(["--seed", "a", "--data", str(shared_data / "mot15")])
    with pytest.raises(UserError, match=r"missing det\.txt or gt\.txt under .*Nowhere"):
        main(["--sequences", "Nowhere", "--data", str(shared_data / "mot15")])


def test_the_frame_drop_tables_can_be_drawn_into_a_png(tmp_path, capsys, shared_data):
    plot = tmp_path / "plots" / "frame_drop.png"
    argv = ["--data", str(shared_data / "mot15"), "--sequences", "TUD-Campus", "--no-peers"]
    argv += ["--keep", "all,every:2", "--phases", "--fps", "real,10"]
    assert main([*argv, "--skip-timing", "--skip-manoeuvres", "--plot", str(plot)]) == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot: {plot}" in capsys.readouterr().out
    with pytest.raises(UserError, match="plots: it is a folder"):  # refused before the work
        main([*argv, "--skip-timing", "--skip-manoeuvres", "--plot", str(tmp_path / "plots")])
