"""Fixtures shared by the whole suite; plain helpers live in tests/support."""

from pathlib import Path

import pytest

from tests.support.fake_cuda import fake_cuda  # noqa: F401  (a fixture for every test)
from tests.support.helpers import SHARED_DATA, require
from tests.support.rtsp import rtsp_server  # noqa: F401  (a fixture for every test)
from tests.support.sandbox import world_readable_dir  # noqa: F401  (a fixture for every test)
from tests.support.weights import weights_server  # noqa: F401  (a fixture for every test)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    require(SHARED_DATA.is_dir(), f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def isolated_weights_cache(tmp_path_factory, monkeypatch):
    """No test sees the user's downloaded weights (they would change what runs untrained) or
    reaches the network: every test gets an empty cache and torch hub folder, and downloads are
    off unless a test starts the loopback server (tests.support.weights.weights_server)."""
    root = tmp_path_factory.mktemp("weights-cache")
    monkeypatch.setenv("POSE_WEIGHTS_DIR", str(root / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(root / "torch"))
    monkeypatch.setenv("POSE_OFFLINE", "1")
    monkeypatch.delenv("POSE_WEIGHTS_MIRROR", raising=False)
