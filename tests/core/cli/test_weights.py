"""`run.py weights list | get | verify | path | import | remove`, `--checkpoint NAME --detector NAME`
in `track`, and the cached defaults — run in-process (so the registry can point at the loopback
server), each failure one `error:` line and exit 2."""

import json

import pytest

import run
from tests.support.helpers import SHARED_DATA, limit_torch_threads, loop_video, require
from tests.support.weights import (
    detector_entry,
    pose_entry,
    pose_file_bytes,
    registered,
    tiny_model,
    yolox_zip_bytes,
)

torch_threads = limit_torch_threads(1)


def weights(capsys, *argv) -> tuple[int, str, str]:
    code = run.main(["weights", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def test_pose(monkeypatch, weights_server):
    body = pose_file_bytes(tiny_model(), "mmpose-1.x")
    return registered(monkeypatch, weights_server, pose_entry("test-pose", body), body), body


def test_list_shows_every_entry_with_size_ap_and_state(capsys):
    code, out, _ = weights(capsys, "list")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["name", "kind", "model", "AP", "size", "cached", "licence"]
    w32 = next(row for row in rows if row.startswith("hrnet-w32 "))
    assert "HRNet-W32 256x192 argmax" in w32 and "74.9" in w32 and "≈109 MB?" in w32 and "–" in w32
    assert any(row.startswith("yolox-s ") for row in rows)
    assert "fasterrcnn-mobilenet" in out and "74 MB" in out


def test_get_path_verify_remove(capsys, test_pose, weights_server):
    entry, _ = test_pose
    code, out, _ = weights(capsys, "path", "test-pose")
    assert code == 1
    code, out, _ = weights(capsys, "get", "test-pose")
    assert code == 0 and "downloaded, verified" in out
    code, out, _ = weights(capsys, "get", "test-pose")
    assert "already cached" in out and weights_server.count(entry.file_name) == 1
    code, out, _ = weights(capsys, "path", "test-pose")
    assert code == 0 and out.strip().endswith(entry.file_name)
    code, out, _ = weights(capsys, "verify")
    assert code == 0 and out.startswith("test-pose: ok")
    with open(out.split(", ", 1)[1].strip(), "ab") as file:
        file.write(b"damage")
    code, out, _ = weights(capsys, "verify", "test-pose")
    assert code == 1 and "damaged" in out
    code, out, _ = weights(capsys, "remove", "test-pose")
    assert code == 0 and "removed 2 file(s)" in out


def test_import_of_a_good_and_a_bad_file(capsys, tmp_path, test_pose):
    _, body = test_pose
    (tmp_path / "good.pth").write_bytes(body)
    (tmp_path / "bad.pth").write_bytes(body[:-10])
    code, _, err = weights(capsys, "import", "test-pose", str(tmp_path / "bad.pth"))
    assert (
        code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "is not test-pose's file" in err
    )
    code, out, _ = weights(capsys, "import", "test-pose", str(tmp_path / "good.pth"))
    assert code == 0 and "verified and cached" in out


def test_offline_get_is_one_line_with_the_url_and_the_import_command(capsys):
    code, out, err = weights(capsys, "get", "hrnet-w32")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "download.openmmlab.com" in err and "python run.py weights import hrnet-w32 FILE" in err


def test_unknown_names_and_actions(capsys):
    code, _, err = weights(capsys, "get", "hrnet-w99")
    assert code == 2 and "no model named 'hrnet-w99'" in err
    code, _, err = weights(capsys, "fetch")
    assert code == 2 and err.startswith("error: ")


def test_track_with_registry_names_downloads_once_and_uses_the_entry(
    capsys, tmp_path, monkeypatch, weights_server, test_pose
):
    require(SHARED_DATA.is_dir(), "shared data missing")
    video = loop_video(tmp_path / "clip.mp4", SHARED_DATA / "video" / "street.mp4", 3, (128, 96))
    registered(monkeypatch, weights_server, detector_entry("test-yolox"), yolox_zip_bytes())
    argv = ["track", "--source", str(video), "--out", str(tmp_path / "out"), "--no-progress"]
    argv += ["--checkpoint", "test-pose", "--detector", "test-yolox", "--formats", "jsonl", "--device", "cpu"]
    assert run.main(argv) == 0
    header = json.loads((tmp_path / "out" / "clip.jsonl").read_text().splitlines()[0])["header"]
    assert header["weights"] != "untrained"
    frames = [json.loads(line) for line in (tmp_path / "out" / "clip.jsonl").read_text().splitlines()[1:]]
    assert frames[0]["tracks"][0]["box"] == [16.0, 32.0, 80.0, 96.0]  # the generated YOLOX's person box
    # Cached now: without --checkpoint / --detector the cached entries are the defaults, said in a line.
    monkeypatch.setattr("core.zoo.registry.REGISTRY", _registry())
    capsys.readouterr()
    assert run.main([*argv[:6], "--formats", "jsonl", "--device", "cpu", "--resume"]) == 0
    err = capsys.readouterr().err
    assert "using the cached test-pose" in err and "using the cached test-yolox" in err


def _registry():
    from core.zoo import REGISTRY

    return {name: entry for name, entry in REGISTRY.items() if name.startswith("test-")}
