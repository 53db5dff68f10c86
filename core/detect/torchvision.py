"""torchvision COCO detectors ("torchvision:NAME[:WEIGHTS_PATH]"), loaded offline from a local file.

The model is built with `weights=None, weights_backbone=None` (nothing is fetched) and its state dict
loaded with `weights_only=True` from WEIGHTS_PATH, or from the file name torchvision's own download
would use inside the torch hub cache (`torch.hub.get_dir()/checkpoints/`), so weights that torchvision
fetched once on another run or machine are found where it left them.
"""

import logging
from pathlib import Path

import numpy as np

from core.detect.base import check_frame, to_detections
from core.errors import UserError, one_line
from core.records import Detection
from core.runtime.device import resolve_device
from core.zoo import ZooEntry

MODELS = (
    "fasterrcnn_resnet50_fpn_v2",
    "retinanet_resnet50_fpn_v2",
    "fcos_resnet50_fpn",
    "ssdlite320_mobilenet_v3_large",
    "fasterrcnn_mobilenet_v3_large_fpn",
)
log = logging.getLogger(__name__)
# Below this many pixels on a side the models' resize and anchor grids have nothing to work with.
MIN_SIDE = 16
PERSON_LABEL = 1  # torchvision's COCO models use the 91-entry category list; 1 = person


def default_weights_path(name: str) -> tuple[Path, str]:
    """(where the weights file must be, the URL it comes from) for a torchvision model name."""
    import torch
    import torchvision

    url = torchvision.models.get_model_weights(name).DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1], url


class TorchvisionDetector:
    """A torchvision detector returning persons above `score_threshold`."""

    SPEC = "torchvision:NAME[:WEIGHTS]"

    @classmethod
    def from_spec(cls, rest: str, device: str = "auto", **options) -> "TorchvisionDetector":
        name, _, weights = rest.partition(":")
        return cls(name, weights or None, device=device, **options)

    @classmethod
    def from_zoo(cls, entry: ZooEntry, path: Path, device: str = "auto", **options) -> "TorchvisionDetector":
        return cls(entry.architecture, path, device=device, **options)

    def __init__(
        self, name: str, weights: str | Path | None = None, score_threshold: float = 0.5, device: str = "auto"
    ):
        import torchvision

        from core.model.checkpoint import read_checkpoint_file

        if name not in MODELS:
            raise UserError(f"unknown torchvision detector {name!r}; choose from {', '.join(MODELS)}")
        if weights is None:
            path, url = default_weights_path(name)
            if not path.is_file():
                raise UserError(
                    f"weights for {name} not found: put the file at {path} (download it from {url}) "
                    f"or give a path as torchvision:{name}:/path/to/weights.pth"
                )
        else:
            path = Path(weights).expanduser()
            if not path.is_file():
                raise UserError(f"weights file not found: {path}")
        model = torchvision.models.get_model(name, weights=None, weights_backbone=None, num_classes=91)
        state = read_checkpoint_file(path)  # weights_only=True; a refused pickle is one line
        if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
            state = state["model"]
        try:
            model.load_state_dict(state)
        except Exception as error:  # a foreign or mismatched file
            raise UserError(f"cannot load {name} weights from {path}: {one_line(error)}") from None
        self.device = resolve_device(device)
        self.model = model.eval().to(self.device)
        self.name, self.score_threshold = name, score_threshold
        self._warned = False

    def __call__(self, frame_bgr: np.ndarray | None, frame_index: int = 0) -> list[Detection]:
        import torch

        frame = check_frame(frame_bgr)
        if min(frame.shape[:2]) < MIN_SIDE:
            if not self._warned:
                self._warned = True
                log.warning(
                    "frames of %dx%d are too small for %s: no detections", *frame.shape[1::-1], self.name
                )
            return []
        rgb = np.ascontiguousarray(frame[:, :, ::-1])
        tensor = torch.from_numpy(rgb).to(self.device).permute(2, 0, 1).float().div_(255.0)
        with torch.inference_mode():
            result = self.model([tensor])[0]
        keep = (result["labels"] == PERSON_LABEL) & (result["scores"] >= self.score_threshold)
        boxes = result["boxes"][keep].double().cpu().numpy()
        scores = result["scores"][keep].double().cpu().numpy()
        return to_detections(boxes, scores)
