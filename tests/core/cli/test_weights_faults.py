"""`run.py weights` and the cache under faults (issue 22), run as a user runs them: a subprocess of
`run.py`, a loopback mirror (`POSE_WEIGHTS_MIRROR`), an unprivileged user or a read-only mount where
permissions matter. Each case checks the promise: exit code, exactly one `error:` line and no
traceback, nothing under a final name that is not verified, the user's files unchanged.

The mirror serves the same file names as the publishers. Files with a published digest prefix
(hrnet-w32's `81c58e40`) cannot be generated, so successful downloads use yolox-nano (no published
digest: a generated end-to-end graph passes its structure check) and failures use either.
"""

from __future__ import annotations

import hashlib
import io
import os
import select
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from subprocess import PIPE

import pytest

from core.zoo import lookup
from tests.support.helpers import ROOT
from tests.support.sandbox import on_read_only_mount, unprivileged
from tests.support.weights import WeightsServer, yolox_zip_bytes

NANO = lookup("yolox-nano")
W32 = lookup("hrnet-w32")
TORCHVISION = lookup("fasterrcnn-mobilenet")


@pytest.fixture
def mirror():
    server = WeightsServer()
    yield server
    server.close()


def weights_env(cache: Path, mirror: WeightsServer | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(POSE_WEIGHTS_DIR=str(cache / "weights"), TORCH_HOME=str(cache / "torch"), OMP_NUM_THREADS="1")
    env.pop("POSE_OFFLINE", None)
    env.pop("POSE_WEIGHTS_MIRROR", None)
    if mirror is not None:
        env["POSE_WEIGHTS_MIRROR"] = mirror.base
    env.update(extra)
    return env


def weights_command(*args: str) -> list[str]:
    return [sys.executable, "run.py", "weights", *map(str, args)]


def run(argv: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def one_error_line(done: subprocess.CompletedProcess, *words: str, code: int = 2) -> str:
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == code, done.stderr
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "\r" not in done.stderr, repr(done.stderr)  # no progress bar glued before the line
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def tree(folder: Path) -> dict[str, str]:
    """Every file under `folder` with its digest, to prove a failed command changed nothing (lock
    files aside: they are created on first use and kept, see core.zoo.lock)."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.parent.name != ".locks"
    }


def cached_nano(cache: Path, mirror: WeightsServer) -> None:
    """yolox-nano in `cache`, fetched by a first `weights get` as root."""
    mirror.serve(NANO.file_name, yolox_zip_bytes())
    assert run(weights_command("get", "yolox-nano"), weights_env(cache, mirror)).returncode == 0


# ---- a cache that cannot be written ---------------------------------------------------------------


def test_a_read_only_cache_folder_is_one_line_for_an_unprivileged_user(world_readable_dir, mirror):
    cache = world_readable_dir
    cached_nano(cache, mirror)
    (cache / "import-me.zip").write_bytes(yolox_zip_bytes())
    (cache / "import-me.zip").chmod(0o644)
    for folder in [cache / "weights", *(cache / "weights").rglob("*")]:
        if folder.is_dir():
            folder.chmod(0o555)
    before = tree(cache)
    env = weights_env(cache, mirror)
    mirror.serve(W32.file_name, b"never fetched")

    get = run(unprivileged(weights_command("get", "hrnet-w32")), env)
    one_error_line(get, "cannot download hrnet-w32", "Permission denied", "POSE_WEIGHTS_DIR")
    assert mirror.count(W32.file_name) == 0  # refused before the first request, not retried
    imported = run(unprivileged(weights_command("import", "hrnet-w32", cache / "import-me.zip")), env)
    one_error_line(imported, "cannot import", "Permission denied")
    removed = run(unprivileged(weights_command("remove", "yolox-nano")), env)
    one_error_line(removed, "cannot remove yolox-nano", "Permission denied")
    # What is cached is still served: reading needs no write access.
    verified = run(unprivileged(weights_command("verify", "yolox-nano")), env)
    assert verified.returncode == 0 and "yolox-nano: ok" in verified.stdout, verified.stderr
    assert tree(cache) == before


def test_a_read_only_mount_is_one_line_without_retries(tmp_path, mirror):
    cached_nano(tmp_path, mirror)  # the entry folder exists: its partial file would be opened first
    (tmp_path / "weights" / NANO.name / NANO.file_name).unlink()
    mirror.serve(W32.file_name, b"never fetched")
    before = tree(tmp_path)
    env = weights_env(tmp_path, mirror)
    started = time.monotonic()
    for name in ("yolox-nano", "hrnet-w32"):
        get = run(on_read_only_mount(tmp_path / "weights", weights_command("get", name)), env)
        one_error_line(get, f"cannot download {name}", "Read-only file system", "POSE_WEIGHTS_DIR")
    assert time.monotonic() - started < 60  # no backoff: a read-only disk is not a transient fault
    assert mirror.count(NANO.file_name) == 1 and mirror.count(W32.file_name) == 0  # only the first get
    removed = run(on_read_only_mount(tmp_path / "weights", weights_command("remove", "yolox-nano")), env)
    one_error_line(removed, "cannot remove yolox-nano", "Read-only file system")
    assert tree(tmp_path) == before


@pytest.mark.parametrize(
    ("where", "entry", "variable"),
    [
        ("weights", NANO, "POSE_WEIGHTS_DIR"),  # the cache folder itself
        ("weights/yolox-nano", NANO, "POSE_WEIGHTS_DIR"),  # the entry's folder
        ("torch/hub/checkpoints", TORCHVISION, "TORCH_HOME"),  # where torchvision keeps its files
    ],
)
def test_a_file_where_a_cache_folder_should_be_is_one_line(tmp_path, mirror, where, entry, variable):
    blocker = tmp_path / where
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_bytes(b"a file, not a folder")
    (tmp_path / "download.bin").write_bytes(b"the user's file")
    before = tree(tmp_path)
    env = weights_env(tmp_path, mirror)
    mirror.serve(entry.file_name, b"never fetched")
    get = run(weights_command("get", entry.name), env)
    one_error_line(
        get, f"cannot download {entry.name}", f"{blocker} is a file where a folder should be", variable
    )
    imported = run(weights_command("import", entry.name, tmp_path / "download.bin"), env)
    one_error_line(imported, "cannot import", f"{blocker} is a file where a folder should be")
    removed = run(weights_command("remove", entry.name), env)
    assert removed.returncode == 0 and "not cached" in removed.stdout, removed.stderr
    assert mirror.count(entry.file_name) == 0
    assert tree(tmp_path) == before


# ---- two processes, one entry ----------------------------------------------------------------------


def test_two_first_uses_of_one_model_at_once_download_it_once_and_both_succeed(tmp_path, mirror):
    """The app and `track` (or sharded jobs) asking for the same model on first use: the second waits
    for the first one's download and uses its file. The mirror holds the first download half-way
    until the second process says it is waiting, so the two really overlap however slow the machine."""
    body, hold = yolox_zip_bytes(), threading.Event()
    mirror.serve(NANO.file_name, body, hold=hold)
    env = weights_env(tmp_path, mirror)

    def start() -> subprocess.Popen:
        command = weights_command("get", "yolox-nano")
        return subprocess.Popen(command, cwd=ROOT, env=env, text=True, stdout=PIPE, stderr=PIPE)

    first = start()
    deadline = time.monotonic() + 120
    while mirror.count(NANO.file_name) == 0:  # the first one is downloading
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.05)
    second = start()
    ready, _, _ = select.select([second.stderr], [], [], 120)
    waiting = second.stderr.readline() if ready else ""
    hold.set()
    outputs = [process.communicate(timeout=120) for process in (first, second)]
    assert waiting == "yolox-nano: another process is downloading it; waiting for it to finish\n"
    for process, (out, err) in zip((first, second), outputs, strict=True):
        assert process.returncode == 0 and "Traceback" not in err, err
        assert "verified" in out
    assert mirror.count(NANO.file_name) == 1
    entry_folder = tmp_path / "weights" / NANO.name
    assert sorted(p.name for p in entry_folder.iterdir()) == [NANO.file_name, NANO.file_name + ".sha256"]
    assert (entry_folder / NANO.file_name).read_bytes() == body


# ---- what a mirror may send ------------------------------------------------------------------------


def zip_bomb(unpacked: int) -> bytes:
    """A zip whose end2end.onnx unpacks to `unpacked` zero bytes (a few hundred KB packed)."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("yolox/end2end.onnx", "w", force_zip64=True) as member,
    ):
        block = bytes(1 << 20)
        for _ in range(unpacked >> 20):
            member.write(block)
    return buffer.getvalue()


def test_a_zip_bomb_from_a_mirror_is_refused_without_unpacking_it(tmp_path, mirror):
    bomb = zip_bomb(300 << 20)
    assert len(bomb) < 2 << 20
    mirror.serve(NANO.file_name, bomb)
    get = run(weights_command("get", "yolox-nano"), weights_env(tmp_path, mirror))
    one_error_line(get, "unpacks to more than 256 MB", "zip bomb", "nothing was cached")
    assert not (tmp_path / "weights" / NANO.name).exists()


def test_a_web_page_instead_of_the_file_is_said_as_such(tmp_path, mirror):
    page = b"<!DOCTYPE html>\n<html><head><title>Wi-Fi login</title></head><body>Sign in</body></html>"
    for entry in (W32, NANO):
        mirror.serve(entry.file_name, page)
        get = run(weights_command("get", entry.name), weights_env(tmp_path, mirror))
        one_error_line(get, "web page", "captive portal")
        assert mirror.count(entry.file_name) == 1  # not retried
    (tmp_path / "saved.pth").write_bytes(page)  # "Save as" on the portal's page
    imported = run(weights_command("import", "hrnet-w32", tmp_path / "saved.pth"), weights_env(tmp_path))
    one_error_line(imported, f"{tmp_path / 'saved.pth'} is not hrnet-w32's file", "web page")
    assert list((tmp_path / "weights").rglob("*.pth*")) == []


def test_a_slow_failing_download_leaves_no_progress_bar_in_a_log(tmp_path, mirror):
    """stderr redirected to a file: no `\\r  0%|…` before the `error:` line."""
    mirror.serve(W32.file_name, os.urandom(200_000), stall_seconds=1.0)  # the bar would show after 0.5 s
    get = run(weights_command("get", "hrnet-w32"), weights_env(tmp_path, mirror))
    line = one_error_line(get, "is not hrnet-w32's file", "publishes 81c58e40")
    assert get.stderr == line + "\n"


@pytest.mark.parametrize(
    "mirror_url",
    [
        "not a url",
        "ftp://mirror.example/weights",
        "http://[::1/weights",
        "http://mirror.example:99999/w",
        "http://",
    ],
)
def test_a_garbage_mirror_url_is_one_line(tmp_path, mirror_url):
    get = run(weights_command("get", "yolox-nano"), weights_env(tmp_path, POSE_WEIGHTS_MIRROR=mirror_url))
    one_error_line(get, "POSE_WEIGHTS_MIRROR", "not a usable URL")
    assert not (tmp_path / "weights").exists()


def test_mirror_credentials_never_reach_the_screen(tmp_path, mirror):
    secret_mirror = mirror.base.replace("http://", "http://login:s3cr3t-pw@") + "/private"
    env = weights_env(tmp_path, POSE_WEIGHTS_MIRROR=secret_mirror)
    get = run(weights_command("get", "yolox-nano"), env)  # 404: the mirror has no such file
    one_error_line(get, "HTTP 404", "***@127.0.0.1")
    offline = run(weights_command("get", "yolox-nano"), {**env, "POSE_OFFLINE": "1"})
    one_error_line(offline, "offline", "***@127.0.0.1")
    for done in (get, offline):
        assert "s3cr3t" not in done.stderr + done.stdout and "login" not in done.stderr


# ---- import ---------------------------------------------------------------------------------------


def test_importing_the_caches_own_partial_file_is_one_line_and_keeps_it(tmp_path):
    partial = tmp_path / "weights" / W32.name / (W32.file_name + ".partial")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"the first half of a download")
    imported = run(weights_command("import", "hrnet-w32", partial), weights_env(tmp_path))
    one_error_line(imported, "unfinished download of hrnet-w32", "weights get hrnet-w32` resumes it")
    assert partial.read_bytes() == b"the first half of a download"
