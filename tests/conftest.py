import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("POSE_SHARED_DATA", ROOT.parent / "shared" / "data"))
# In CI every system tool a test needs is installed by .ci/run, so a missing one is a failure there.
STRICT = bool(os.environ.get("CI"))


def require(condition: bool, reason: str) -> None:
    """Skip locally when an external prerequisite is missing; fail in CI, where it must exist."""
    if not condition:
        if STRICT:
            pytest.fail(f"missing in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    require(SHARED_DATA.is_dir(), f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


def require_tool(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"{name} is not installed")
    return path
