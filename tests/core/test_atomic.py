"""Atomic output files: all or nothing under the final name, no temporary left behind, usual permissions."""

import os
import stat

import pytest

from core.atomic import atomic_path, temp_beside, write_text_atomic


def test_success_replaces_the_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.txt.partial-")
        tmp.write_text("new")
        assert target.read_text() == "old"  # nothing under the final name until the end
    assert target.read_text() == "new"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_an_exception_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="writer failed"), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_an_exception_before_the_first_write_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "never.json"):
        raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_missing_folders_are_created_and_the_suffix_kept(tmp_path):
    target = tmp_path / "a" / "b" / "model.onnx"
    with atomic_path(target, suffix=".onnx") as tmp:
        assert tmp.suffix == ".onnx"  # for writers that choose the format from the name
        tmp.write_bytes(b"\x00")
    assert target.read_bytes() == b"\x00"


def test_permissions_are_those_of_a_plain_open(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    written = write_text_atomic(tmp_path / "atomic.txt", "x — ü")  # UTF-8, whatever the locale
    assert written.read_text(encoding="utf-8") == "x — ü"
    mode = stat.S_IMODE(plain.stat().st_mode)
    assert stat.S_IMODE(written.stat().st_mode) == mode
    assert stat.S_IMODE(temp_beside(tmp_path / "video.mp4", ".mp4").stat().st_mode) == mode


def test_os_errors_become_one_line_naming_the_file(tmp_path):
    from core.errors import UserError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError, match=r"cannot write .*under\.txt: (File exists|Not a directory)"):
        write_text_atomic(blocker / "under.txt", "x")
    (tmp_path / "folder").mkdir()
    with pytest.raises(UserError, match="it is a folder"):
        write_text_atomic(tmp_path / "folder", "x")
    with pytest.raises(UserError, match="No space left"), atomic_path(tmp_path / "full.txt"):
        raise OSError(28, "No space left on device")
    assert sorted(os.listdir(tmp_path)) == ["file", "folder"]


def test_outputs_are_checked_without_creating_anything(tmp_path):
    from core.atomic import check_writable, check_writable_folder
    from core.errors import UserError

    check_writable(tmp_path / "a" / "b" / "out.json")
    check_writable_folder(tmp_path / "new")
    assert os.listdir(tmp_path) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="lies under the file"):
        check_writable(tmp_path / "file" / "deeper" / "out.json")
    with pytest.raises(UserError, match="it is a folder"):
        check_writable(tmp_path)
