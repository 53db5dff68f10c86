"""The cache: where it is, `import` of good and bad files, re-verification on every load, files
without a published digest (structure check + digest recorded at first download, zip bombs), remove,
and the lock that lets one process at a time write an entry."""

import threading
from pathlib import Path

import pytest

from core.errors import UserError
from core.zoo import (
    cache_dir,
    cached_file,
    default_entry,
    fetch,
    import_file,
    is_cached,
    read_onnx_from_zip,
    remove,
)
from core.zoo.cache import digest_path, entry_lock, entry_path
from tests.support.weights import detector_entry, pose_entry, registered, sha256, yolox_zip_bytes, zipped

GOOD = b"weights that match their published prefix" * 100


def test_the_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("POSE_WEIGHTS_DIR", str(tmp_path / "w"))
    assert cache_dir() == tmp_path / "w"
    monkeypatch.delenv("POSE_WEIGHTS_DIR")
    monkeypatch.setenv("POSE_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c" / "weights"
    monkeypatch.delenv("POSE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x" / "attention-hrnet-pose" / "weights"


def test_import_of_a_good_file_verifies_and_caches_it(tmp_path):
    entry = pose_entry("test-pose", GOOD)
    source = tmp_path / "from-browser.pth"
    source.write_bytes(GOOD)
    path = import_file(entry, source)
    assert path == entry_path(entry) and path.read_bytes() == GOOD
    assert digest_path(entry).read_text().split()[0] == sha256(GOOD)
    assert is_cached(entry) and cached_file(entry) == path
    assert source.exists()  # the user's file is copied, not taken


def test_import_of_a_bad_file_is_refused_and_caches_nothing(tmp_path):
    entry = pose_entry("test-pose", GOOD)
    source = tmp_path / "other.pth"
    source.write_bytes(b"something else")
    with pytest.raises(UserError, match=r"is not test-pose's file: SHA-256 starts .* publishes"):
        import_file(entry, source)
    assert not is_cached(entry)
    assert list(entry_path(entry).parent.glob("*")) == []
    with pytest.raises(UserError, match="file not found"):
        import_file(entry, tmp_path / "missing.pth")


def test_a_file_damaged_in_the_cache_is_refused_on_load(tmp_path):
    entry = pose_entry("test-pose", GOOD)
    (tmp_path / "f").write_bytes(GOOD)
    path = import_file(entry, tmp_path / "f")
    path.write_bytes(GOOD[:-1] + b"!")
    with pytest.raises(UserError, match=r"weights remove test-pose` and get it again"):
        cached_file(entry)


def test_a_file_without_published_digest_is_checked_for_structure_and_its_digest_recorded(
    monkeypatch, weights_server
):
    body = yolox_zip_bytes()
    entry = registered(monkeypatch, weights_server, detector_entry("test-yolox"), body)
    assert not entry.has_published_digest
    path = fetch(entry)
    assert digest_path(entry).read_text().split()[0] == sha256(body)
    assert cached_file(entry) == path
    # A later change to the file is caught by the recorded digest.
    path.write_bytes(body + b"tail")
    with pytest.raises(UserError, match="recorded when it was downloaded"):
        cached_file(entry)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"not a zip", "not a readable zip"),
        (zipped({"readme.txt": b"hi"}), "holds no .onnx"),
        (zipped({"end2end.onnx": b"garbage"}), "not a loadable ONNX model"),
    ],
)
def test_a_file_without_digest_that_fails_its_structure_check_is_not_cached(
    monkeypatch, weights_server, body, problem
):
    entry = registered(monkeypatch, weights_server, detector_entry("test-yolox"), body)
    with pytest.raises(UserError, match=problem):
        fetch(entry)
    assert not is_cached(entry) and not entry_path(entry).exists()


def test_remove_deletes_file_digest_and_partial(tmp_path):
    entry = pose_entry("test-pose", GOOD)
    (tmp_path / "f").write_bytes(GOOD)
    import_file(entry, tmp_path / "f")
    entry_path(entry).with_name(entry.file_name + ".partial").write_bytes(b"x")
    removed = remove(entry)
    assert len(removed) == 3 and not is_cached(entry)
    assert remove(entry) == []


def test_the_default_is_the_first_cached_entry_in_registry_order(monkeypatch, tmp_path):
    first, second = pose_entry("test-a", GOOD), pose_entry("test-b", GOOD + b"b")
    monkeypatch.setattr("core.zoo.registry.REGISTRY", {first.name: first, second.name: second})
    assert default_entry("pose") is None
    Path(tmp_path / "b").write_bytes(GOOD + b"b")
    import_file(second, tmp_path / "b")
    assert default_entry("pose") == second
    assert default_entry("detector") is None


def test_import_of_another_entrys_file_names_the_users_file_and_the_entry_it_is(monkeypatch, tmp_path):
    """A W48 file imported as hrnet-w32: the line names the file the user gave and what it really is."""
    w32, w48 = pose_entry("test-w32", GOOD), pose_entry("test-w48", GOOD + b"48")
    monkeypatch.setattr("core.zoo.registry.REGISTRY", {w32.name: w32, w48.name: w48})
    source = tmp_path / "downloads" / "w48.pth"
    source.parent.mkdir()
    source.write_bytes(GOOD + b"48")
    with pytest.raises(UserError) as caught:
        import_file(w32, source)
    digest = sha256(GOOD + b"48")[:8]
    assert str(caught.value) == (
        f"{source} is not test-w32's file: SHA-256 starts {digest}, the file name publishes "
        f"{w32.sha256_prefix}: it is test-w48's file"
    )
    assert not (cache_dir() / "test-w32").exists()  # no empty entry folder left behind
    assert source.read_bytes() == GOOD + b"48"


def test_import_of_a_saved_web_page_says_it_is_one(tmp_path):
    entry = pose_entry("test-pose", GOOD)
    page = tmp_path / "hrnet.pth"
    page.write_bytes(b"\n  <!DOCTYPE html><html><body>Please log in to the hotel Wi-Fi</body></html>")
    with pytest.raises(
        UserError, match=r"hrnet\.pth is not test-pose's file: it is a web page .*captive portal"
    ):
        import_file(entry, page)


def test_a_zip_member_larger_than_the_cap_is_refused_before_it_is_unpacked(monkeypatch, tmp_path):
    from core.zoo import cache

    monkeypatch.setattr(cache, "MAX_GRAPH_BYTES", 1 << 20)
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(zipped({"end2end.onnx": bytes(2 << 20)}))
    with pytest.raises(UserError, match=r"unpacks to more than 1 MB.*zip bomb"):
        read_onnx_from_zip(bomb)
    small = tmp_path / "small.zip"
    small.write_bytes(zipped({"end2end.onnx": b"graph"}))
    assert read_onnx_from_zip(small) == (b"graph", "end2end.onnx")


def test_concurrent_fetches_of_one_entry_download_it_once(monkeypatch, weights_server):
    """Threads stand in for processes here (flock locks open files, not processes): the second
    waits for the first, says so, and then uses its file."""
    body = GOOD * 50
    entry = registered(monkeypatch, weights_server, pose_entry("test-pose", body), body, stall_seconds=1.0)
    paths, notices, errors = [], [], []

    def first_use():
        try:
            paths.append(fetch(entry, notice=notices.append))
        except Exception as error:  # the assertion below shows it
            errors.append(error)

    threads = [threading.Thread(target=first_use) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and len(paths) == 2 and paths[0] == paths[1] and paths[0].read_bytes() == body
    assert weights_server.count(entry.file_name) == 1
    assert notices == ["test-pose: another process is downloading it; waiting for it to finish"]


def test_remove_during_a_download_is_refused_in_one_line(tmp_path):
    entry = pose_entry("test-pose", GOOD)
    (tmp_path / "f").write_bytes(GOOD)
    import_file(entry, tmp_path / "f")
    downloading = entry_lock(entry, "download test-pose")  # as a downloading process holds it
    with downloading, pytest.raises(UserError, match="another process is downloading it; try again"):
        remove(entry)
    assert is_cached(entry)
    assert len(remove(entry)) == 2
