"""Fixtures shared by the whole suite; plain helpers live in tests/support."""

from pathlib import Path

import pytest

from tests.support.fake_cuda import fake_cuda  # noqa: F401  (a fixture for every test)
from tests.support.helpers import SHARED_DATA, require
from tests.support.rtsp import rtsp_server  # noqa: F401  (a fixture for every test)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    require(SHARED_DATA.is_dir(), f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA
