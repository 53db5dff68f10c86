"""Commands run where file permissions bite. The tests run as root (here and in CI), and root passes
every permission check, so a test of a read-only folder proves nothing unless its command runs as
an unprivileged user or against a read-only mount:

- `unprivileged(argv)`: the command as user and group 65534 (`setpriv`), for folders without write
  permission. That user must be able to read the repository and the interpreter (a checkout under
  /root is not readable to it); where it cannot, the command runs as root without the capabilities
  that bypass file modes (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER), so the owner's mode
  bits bind root like anyone else. `unprivileged_reason()` says which applies, or why neither does.
- `on_read_only_mount(folder, argv)`: the command in a private mount namespace (`unshare -m`, or
  `unshare -rm` without CAP_SYS_ADMIN) where `folder` is bind-mounted read-only: EROFS for everyone,
  root included, and nothing outside the command sees the mount.
- `world_readable_dir` (a fixture): a temporary folder outside pytest's (root-only) tmp_path that
  user 65534 can reach.

Where a sandbox cannot be set up, `require` skips the test locally and fails it in CI, except where
the kernel itself refuses mount namespaces (some containers): no package fixes that, so it skips
everywhere, saying so.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.helpers import ROOT, require, require_tool

NOBODY = 65534
_MOUNT_RO = 'mount --bind -o ro "$0" "$0" && exec "$@"'
_AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
_WITHOUT_DAC = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def unprivileged(argv: list[str]) -> list[str]:
    """`argv` run where file modes are enforced (see the module's docstring)."""
    require_unprivileged()
    return [*_unprivileged_prefix(), *argv]


@functools.cache
def _unprivileged_prefix() -> tuple[str, ...]:
    """How to drop privileges here: as user 65534, else as root without the DAC capabilities; () when
    neither starts the repository's Python (the reason is unprivileged_reason())."""
    if os.geteuid() != 0:
        return ("env",)  # already unprivileged
    if shutil.which("setpriv") is None:
        return ()
    probe = [sys.executable, "-c", "import run, core.zoo"]
    for prefix in (_AS_NOBODY, _WITHOUT_DAC):
        if subprocess.run([*prefix, *probe], cwd=ROOT, capture_output=True).returncode == 0:
            return tuple(prefix)
    return ()


def unprivileged_reason() -> str | None:
    """Why commands cannot run unprivileged here; None when they can."""
    if _unprivileged_prefix():
        return None
    if shutil.which("setpriv") is None:
        return "setpriv is not installed (util-linux)"
    return "neither user 65534 nor root without CAP_DAC_OVERRIDE can start the repository's Python"


def require_unprivileged() -> None:
    require(unprivileged_reason() is None, unprivileged_reason() or "")


@functools.cache
def _unshare() -> list[str] | None:
    """The unshare command that can bind-mount read-only here, or None."""
    if shutil.which("unshare") is None:
        return None
    scratch = Path(tempfile.mkdtemp(prefix="ro-probe-"))
    try:
        for command in (["unshare", "-m"], ["unshare", "-rm"]):
            probe = [
                *command,
                "--",
                "sh",
                "-c",
                _MOUNT_RO,
                str(scratch),
                "sh",
                "-c",
                "! touch $0/x",
                str(scratch),
            ]
            if subprocess.run(probe, capture_output=True).returncode == 0:
                return command
        return None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def on_read_only_mount(folder: Path, argv: list[str]) -> list[str]:
    """`argv` with `folder` read-only (a private bind mount; the test's own view stays writable)."""
    require_tool("unshare")  # util-linux: CI installs it, so its absence there is a failure
    command = _unshare()
    if command is None:  # a kernel or container that refuses mount namespaces: nothing to install
        pytest.skip("this kernel refuses a read-only bind mount in a private mount namespace")
    return [*command, "--", "sh", "-c", _MOUNT_RO, str(folder), *argv]


@pytest.fixture
def world_readable_dir() -> Iterator[Path]:
    """A fresh folder under the system temp folder, reachable (0o755) by user 65534."""
    folder = Path(tempfile.mkdtemp(prefix="pose-sandbox-"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:  # modes a test removed must not stop the clean-up
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
    shutil.rmtree(folder, ignore_errors=True)
