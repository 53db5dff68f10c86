"""`--checkpoint` as a file or a registry name: what to load, at which input size, with which decoder.

A name from core.zoo (`hrnet-w32-dark`) brings its architecture with it: the width comes from the
weights as for any file, the input size and the decoder from the entry, so the user repeats nothing.
An existing path always wins over a name, and a name that is not in the registry is a path (whose
absence is reported as such). mmpose's preprocessing (RGB, mean 123.675/116.28/103.53, std
58.395/57.12/57.375 on the 0-255 scale) is ImageNet's mean/std × 255, which is exactly what
core.pose.codec applies to every crop (RGB, (x/255 − mean)/std), so mmpose weights need no other
normalisation; tests/core/model/test_named.py checks the heatmaps are the same either way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.zoo import POSE, ZooEntry, default_entry, fetch, lookup, names

# mmpose's data_preprocessor for its COCO top-down HRNets (RGB order, 0-255 units).
MMPOSE_MEAN = (123.675, 116.28, 103.53)
MMPOSE_STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class CheckpointChoice:
    """A resolved `--checkpoint`: the file, and what the registry says about it (None for plain files)."""

    path: Path
    entry: ZooEntry | None = None

    @property
    def input_size(self) -> tuple[int, int] | None:
        return self.entry.input_size if self.entry is not None else None

    @property
    def decode(self) -> str:
        return self.entry.decode if self.entry is not None else "argmax"


def registry_name(spec: str | os.PathLike | None) -> ZooEntry | None:
    """The pose entry `spec` names, unless a file of that name exists (a path always wins)."""
    if spec is None or Path(spec).expanduser().exists():
        return None
    return lookup(spec, POSE)


def check_checkpoint_spec(spec: str | os.PathLike | None) -> None:
    """Fail early, without loading or downloading, when `spec` is neither a file nor a pose name."""
    if spec is None or registry_name(spec) is not None:
        return
    path = Path(spec).expanduser()
    if not path.is_file():
        raise UserError(
            f"checkpoint not found: {path} (not a file, nor a model name: {', '.join(names(POSE))})"
        )


def resolve_checkpoint(spec: str | os.PathLike, progress=None) -> CheckpointChoice:
    """The file to load for `spec`, downloading a named entry on first use (core.zoo.fetch)."""
    entry = registry_name(spec)
    if entry is None:
        return CheckpointChoice(Path(spec).expanduser())
    if progress is None:
        from core.zoo import tqdm_progress

        with tqdm_progress(entry) as bar:
            return CheckpointChoice(fetch(entry, bar), entry)
    return CheckpointChoice(fetch(entry, progress), entry)


def default_checkpoint() -> tuple[str | None, str]:
    """(the name of the cached default pose model or None, the one line that says what happens)."""
    entry = default_entry(POSE)
    if entry is not None:
        return entry.name, (
            f"no --checkpoint given: using the cached {entry.name} ({entry.describe()}, COCO AP {entry.ap})"
        )
    first = names(POSE)[0]
    return None, (
        "no --checkpoint given and no pose weights cached: the model is untrained, poses are meaningless; "
        f"`python run.py weights get {first}` downloads real ones (then they are used by default)"
    )
