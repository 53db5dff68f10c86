"""The model zoo's entries: every pose model and person detector a user can name, and what we know of
each file. The single source of truth for `run.py weights`, `--checkpoint NAME`, `--detector NAME`
and the app's choosers.

Digests: mmpose and torchvision publish the first 8 hex digits of the file's SHA-256 in its name
(`…-81c58e40_20220909.pth`, `…-fb6a3cc7.pth`); that prefix is all we record, never a guessed full
digest. The YOLOX zips carry the hash of the .pth they were exported from, not their own: they have
no published digest, so they are checked for structure and their SHA-256 is recorded at first
download (core.zoo.cache). Sizes are the publisher's where it states them (torchvision's `_file_size`),
else unknown, shown with an estimate from the parameter count (4 bytes per fp32 parameter).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

POSE, DETECTOR = "pose", "detector"
# File formats the loaders read (core.model.checkpoint for the pose ones, core.detect for detectors).
POSE_FORMATS = ("mmpose-1.x", "mmpose-0.x", "official", "ours")
DETECTOR_FORMATS = ("yolox-onnx-zip", "torchvision")
MIRROR_ENV = "POSE_WEIGHTS_MIRROR"

_MMPOSE = "https://download.openmmlab.com/mmpose/v1/body_2d_keypoint/topdown_heatmap/coco/"
_RTMLIB = "https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/onnx_sdk/"
_TORCHVISION = "https://download.pytorch.org/models/"
_MMPOSE_SOURCE = "mmpose 1.x model zoo (OpenMMLab)"
_MMPOSE_NOTE = "mmpose's retrained HRNet; preprocessing RGB, mean/std of ImageNet in 0-255 units"


@dataclass(frozen=True)
class ZooEntry:
    """One downloadable file and everything needed to use it without repeating options."""

    name: str
    kind: str  # POSE or DETECTOR
    url: str
    format: str  # one of POSE_FORMATS / DETECTOR_FORMATS
    licence: str
    source: str
    note: str
    sha256: str | None = None  # the full digest, where the publisher gives it
    sha256_prefix: str | None = None  # the 8-hex prefix in the file name, where that is all there is
    size_mb: float | None = None  # published size (MiB); None: unknown
    approx_mb: float | None = None  # estimate shown while the size is unknown
    ap: float | None = None  # published COCO val2017 AP (keypoint AP for pose, box mAP for detectors)
    width: int | None = None  # HRNet width (pose)
    input_size: tuple[int, int] | None = None  # (w, h): pose crop size, or the detector's input
    decode: str = "argmax"  # heatmap decoder the model was trained for (pose)
    architecture: str | None = None  # torchvision model name (detectors)

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def download_url(self) -> str:
        """The URL to fetch: the publisher's, or the same file name under $POSE_WEIGHTS_MIRROR."""
        mirror = os.environ.get(MIRROR_ENV, "").strip()
        return f"{mirror.rstrip('/')}/{self.file_name}" if mirror else self.url

    @property
    def has_published_digest(self) -> bool:
        return bool(self.sha256 or self.sha256_prefix)

    def size_text(self) -> str:
        if self.size_mb is not None:
            return f"{self.size_mb:.0f} MB"
        return f"≈{self.approx_mb:.0f} MB?" if self.approx_mb is not None else "unknown"

    def describe(self) -> str:
        if self.kind == POSE:
            w, h = self.input_size or (0, 0)
            return f"HRNet-W{self.width} {h}x{w} {self.decode}"
        size = f" {self.input_size[0]}x{self.input_size[1]}" if self.input_size else ""
        return f"{self.architecture or self.format}{size}"


def _hrnet(name: str, file: str, prefix: str, ap: float, width: int, size: tuple[int, int], decode: str):
    params = {32: 28.5, 48: 63.6}[width]  # millions, measured by `run.py info` on our identical topology
    return ZooEntry(
        name=name,
        kind=POSE,
        url=_MMPOSE + file,
        format="mmpose-1.x",
        licence="Apache-2.0",
        source=_MMPOSE_SOURCE,
        note=_MMPOSE_NOTE + ("; trained with DARK's unbiased targets" if decode == "dark" else ""),
        sha256_prefix=prefix,
        approx_mb=round(params * 4 * 1e6 / 2**20),
        ap=ap,
        width=width,
        input_size=size,
        decode=decode,
    )


def _yolox(size: str, digest: str, approx_mb: float, input_size: tuple[int, int]) -> ZooEntry:
    """rtmlib's person detectors: onnx_sdk/yolox_<size>_8xb8-300e_humanart-<hash of the .pth>.zip."""
    return ZooEntry(
        name=f"yolox-{size}",
        kind=DETECTOR,
        url=f"{_RTMLIB}yolox_{size}_8xb8-300e_humanart-{digest}.zip",
        format="yolox-onnx-zip",
        licence="Apache-2.0",
        source="rtmlib / mmpose RTMPose project (mmdeploy end-to-end ONNX)",
        note="YOLOX person detector trained on COCO + HumanArt; NMS inside the graph; no published digest",
        approx_mb=approx_mb,
        input_size=input_size,
        architecture=f"YOLOX-{size}",
    )


def _torchvision(name: str, model: str, file: str, prefix: str, size_mb: float, box_map: float):
    return ZooEntry(
        name=name,
        kind=DETECTOR,
        url=_TORCHVISION + file,
        format="torchvision",
        licence="BSD-3-Clause (torchvision)",
        source="torchvision weights API (COCO_V1)",
        note=f"torchvision {model}; kept in torch hub's cache, where torchvision looks",
        sha256_prefix=prefix,
        size_mb=size_mb,
        ap=box_map,
        architecture=model,
    )


_W32, _W48 = "td-hm_hrnet-w32_8xb64-210e_coco-", "td-hm_hrnet-w48_8xb32-210e_coco-"
_W32_DARK, _W48_DARK = "td-hm_hrnet-w32_dark-8xb64-210e_coco-", "td-hm_hrnet-w48_dark-8xb32-210e_coco-"
_S256, _S384 = (192, 256), (288, 384)

# In order of preference: without --checkpoint / --detector the first cached one of a kind is used.
ENTRIES: tuple[ZooEntry, ...] = (
    _hrnet("hrnet-w32", _W32 + "256x192-81c58e40_20220909.pth", "81c58e40", 74.9, 32, _S256, "argmax"),
    _hrnet(
        "hrnet-w32-dark", _W32_DARK + "256x192-0e00bf12_20220914.pth", "0e00bf12", 75.7, 32, _S256, "dark"
    ),
    _hrnet("hrnet-w32-384", _W32 + "384x288-ca5956af_20220909.pth", "ca5956af", 76.1, 32, _S384, "argmax"),
    _hrnet(
        "hrnet-w32-dark-384", _W32_DARK + "384x288-9bab4c9b_20220917.pth", "9bab4c9b", 76.6, 32, _S384, "dark"
    ),
    _hrnet("hrnet-w48", _W48 + "256x192-0e67c616_20220913.pth", "0e67c616", 75.6, 48, _S256, "argmax"),
    _hrnet(
        "hrnet-w48-dark", _W48_DARK + "256x192-e1ebdd6f_20220913.pth", "e1ebdd6f", 76.4, 48, _S256, "dark"
    ),
    _hrnet("hrnet-w48-384", _W48 + "384x288-c161b7de_20220915.pth", "c161b7de", 76.7, 48, _S384, "argmax"),
    _hrnet(
        "hrnet-w48-dark-384", _W48_DARK + "384x288-39c3c381_20220916.pth", "39c3c381", 77.2, 48, _S384, "dark"
    ),
    _yolox("s", "3ef259a7", 34, (640, 640)),
    _yolox("m", "c2c7a14a", 97, (640, 640)),
    _yolox("tiny", "6f3252f9", 19, (416, 416)),
    _yolox("nano", "40f6f0d0", 3.5, (416, 416)),
    _torchvision(
        "fasterrcnn-mobilenet",
        "fasterrcnn_mobilenet_v3_large_fpn",
        "fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth",
        "fb6a3cc7",
        74.239,
        32.8,
    ),
    _torchvision(
        "fasterrcnn-resnet50",
        "fasterrcnn_resnet50_fpn_v2",
        "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth",
        "dd69338a",
        167.104,
        46.7,
    ),
)
# Tests point entries at a loopback server by replacing this mapping's values (monkeypatch.setitem).
REGISTRY: dict[str, ZooEntry] = {entry.name: entry for entry in ENTRIES}


def lookup(name: str | os.PathLike | None, kind: str | None = None) -> ZooEntry | None:
    """The entry called `name` (of `kind`, when given), or None: a path is never a registry name."""
    if name is None:
        return None
    entry = REGISTRY.get(str(name).strip().lower())
    return entry if entry is not None and (kind is None or entry.kind == kind) else None


def entries(kind: str | None = None) -> list[ZooEntry]:
    return [entry for entry in REGISTRY.values() if kind is None or entry.kind == kind]


def names(kind: str | None = None) -> list[str]:
    return [entry.name for entry in entries(kind)]
