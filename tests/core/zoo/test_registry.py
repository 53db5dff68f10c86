"""The registry's facts: names, digests and formats as the publishers name them, and torchvision's
entries equal to what torchvision's own weights API says (read offline from the installed package)."""

import re

import pytest

from core.model import check_input_size
from core.zoo import DETECTOR, POSE, entries, lookup, names
from core.zoo.registry import DETECTOR_FORMATS, POSE_FORMATS


def test_names_are_unique_lowercase_and_kinds_are_known():
    assert len(names()) == len(set(names())) == len(entries())
    for entry in entries():
        assert entry.name == entry.name.lower() and " " not in entry.name
        assert entry.format in (POSE_FORMATS if entry.kind == POSE else DETECTOR_FORMATS)
        assert entry.url.startswith("https://") and entry.licence and entry.source


def test_published_prefixes_are_the_hash_fragment_of_the_file_name():
    """mmpose: `…-81c58e40_20220909.pth`; torchvision: `…-fb6a3cc7.pth` (torch.hub's convention).
    No full digest is recorded: none is published for these files."""
    for entry in entries():
        assert entry.sha256 is None
        if entry.format == "yolox-onnx-zip":
            assert entry.sha256_prefix is None  # the zip's hash fragment names the .pth, not the zip
            continue
        fragment = re.search(r"-([0-9a-f]{8})(?:_\d{8})?\.pth$", entry.file_name)[1]
        assert entry.sha256_prefix == fragment


def test_pose_entries_carry_their_architecture():
    for entry in entries(POSE):
        check_input_size(*entry.input_size)
        assert entry.width in (32, 48) and entry.decode in ("argmax", "dark")
        assert ("dark" in entry.name) == (entry.decode == "dark")
        w, h = entry.input_size
        assert f"{h}x{w}" in entry.file_name and f"w{entry.width}" in entry.file_name
        assert entry.ap is not None and 74 < entry.ap < 78


@pytest.mark.parametrize("name", [e.name for e in entries(DETECTOR) if e.format == "torchvision"])
def test_torchvision_entries_match_torchvisions_weights_api(name):
    import torchvision

    entry = lookup(name)
    weights = torchvision.models.get_model_weights(entry.architecture).DEFAULT
    assert entry.url == weights.url
    assert entry.size_mb == weights.meta["_file_size"]
    assert entry.ap == weights.meta["_metrics"]["COCO-val2017"]["box_map"]


def test_lookup_is_by_kind_and_a_path_is_not_a_name():
    assert lookup("HRNet-W32").name == "hrnet-w32"
    assert lookup("hrnet-w32", DETECTOR) is None
    assert lookup("yolox-s", DETECTOR).input_size == (640, 640)
    assert lookup("runs/w32/best.pt") is None and lookup(None) is None
