"""The cache: where it is, `import` of good and bad files, re-verification on every load, files
without a published digest (structure check + digest recorded at first download), remove."""

from pathlib import Path

import pytest

from core.errors import UserError
from core.zoo import cache_dir, cached_file, default_entry, fetch, import_file, is_cached, remove
from core.zoo.cache import digest_path, entry_path
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
