"""The model zoo: pose models and person detectors a user can name (`--checkpoint hrnet-w32
--detector yolox-s`), the cache they download into, and the downloader (see each module's docstring).

`registry` is data only; `cache` knows where files live and how they are verified; `download` is
the only code that opens a network connection, and only for a named entry or `run.py weights get`.
"""

from core.zoo.cache import (
    EntryState,
    cache_dir,
    cached_file,
    default_entry,
    entry_path,
    import_file,
    is_cached,
    read_onnx_from_zip,
    remove,
    state,
    verify_file,
)
from core.zoo.download import (
    DownloadSettings,
    Progress,
    download,
    fetch,
    import_hint,
    is_offline,
    tqdm_progress,
)
from core.zoo.registry import DETECTOR, POSE, REGISTRY, ZooEntry, entries, lookup, names

__all__ = [
    "DETECTOR",
    "POSE",
    "REGISTRY",
    "DownloadSettings",
    "EntryState",
    "Progress",
    "ZooEntry",
    "cache_dir",
    "cached_file",
    "default_entry",
    "download",
    "entries",
    "entry_path",
    "fetch",
    "import_file",
    "import_hint",
    "is_cached",
    "is_offline",
    "lookup",
    "names",
    "read_onnx_from_zip",
    "remove",
    "state",
    "tqdm_progress",
    "verify_file",
]
