"""ONNX person detectors on onnxruntime: YOLO-family exports ("onnx:PATH": letterbox, decode, person
filter, NMS) and the zoo's YOLOX mmdeploy end-to-end models (`YoloxEnd2EndDetector`, below).

Expected output, as Ultralytics exports YOLOv8/YOLO11: one tensor 1 × (4 + C) × N, for each of N
candidates the box centre x, centre y, width, height in letterboxed input pixels followed by C
class scores (no objectness); person is class 0 (COCO order). The transposed N × (4 + C) layout (some
exporters, or after a post-processing transpose) is accepted too: the shorter axis is taken as the
4 + C features, since real exports have thousands of candidates and at most a few hundred classes.
"""

from pathlib import Path

import cv2
import numpy as np

from core.boxes import clip_boxes, nms
from core.detect.base import check_frame, to_detections
from core.errors import UserError, one_line
from core.records import Detection
from core.zoo import ZooEntry

PAD_VALUE = 114  # Ultralytics' letterbox grey


def letterbox(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Resize keeping the aspect ratio and pad to `size` (w, h), centred as Ultralytics does.

    Returns (image, ratio, (left, top)): an input point p maps to p * ratio + (left, top).
    """
    height, width = image.shape[:2]
    ratio = min(size[0] / width, size[1] / height)
    new_w, new_h = max(1, round(width * ratio)), max(1, round(height * ratio))  # a 1×2000 frame too
    pad_w, pad_h = (size[0] - new_w) / 2, (size[1] - new_h) / 2
    resized = (
        cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        if (new_w, new_h) != (width, height)
        else image
    )
    top, bottom = round(pad_h - 0.1), round(pad_h + 0.1)
    left, right = round(pad_w - 0.1), round(pad_w + 0.1)
    out = cv2.copyMakeBorder(resized, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return out, ratio, (float(left), float(top))


def decode_yolo(
    output: np.ndarray, class_index: int = 0, score_threshold: float = 0.25, nms_iou: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """(boxes xyxy in network-input pixels, scores) of one class from a raw YOLO output."""
    out = np.asarray(output, dtype=np.float64)
    if out.ndim == 3:
        if out.shape[0] != 1:
            raise UserError(f"expected a batch of one image, got output shape {out.shape}")
        out = out[0]
    if out.ndim != 2:
        raise UserError(f"YOLO output must be 1×(4+C)×N or N×(4+C), got shape {np.shape(output)}")
    if out.shape[0] < out.shape[1]:  # (4 + C, N): features along the shorter axis
        out = out.T
    if out.shape[1] < 5 + class_index:
        raise UserError(f"YOLO output has {out.shape[1] - 4} classes, class {class_index} is missing")
    scores = out[:, 4 + class_index]
    keep = scores >= score_threshold
    cx, cy, w, h = out[keep, :4].T
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    scores = scores[keep]
    if len(boxes) == 0:
        return np.zeros((0, 4)), np.zeros(0)
    order = nms(boxes, scores, nms_iou)
    return boxes[order], scores[order]


class YoloOnnxDetector:
    """Persons from a YOLO ONNX model; the input size comes from the model (640×640 when dynamic)."""

    SPEC = "onnx:PATH"

    @classmethod
    def from_spec(cls, rest: str, device: str = "auto", **options) -> "YoloOnnxDetector":
        """onnxruntime picks CUDA when it has it, whatever `device` says."""
        return cls(rest, **options)

    def __init__(
        self,
        path: str | Path,
        score_threshold: float = 0.25,
        nms_iou: float = 0.5,
        class_index: int = 0,
        providers: list[str] | None = None,
    ):
        import onnxruntime as ort

        path = Path(path).expanduser()
        if not path.is_file():
            raise UserError(f"ONNX detector file not found: {path}")
        available = ort.get_available_providers()
        chosen = providers or [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        try:
            self.session = ort.InferenceSession(str(path), providers=chosen)
        except Exception as error:
            raise UserError(f"cannot load ONNX model {path}: {one_line(error)}") from None
        inp = self.session.get_inputs()[0]
        if len(inp.shape) != 4:
            raise UserError(f"{path}: expected an image input N×3×H×W, got {inp.shape}")
        h, w = inp.shape[2], inp.shape[3]
        self.input_name = inp.name
        self.input_size = (w if isinstance(w, int) else 640, h if isinstance(h, int) else 640)
        self.input_type = np.float16 if "float16" in inp.type else np.float32
        self.score_threshold, self.nms_iou, self.class_index = score_threshold, nms_iou, class_index

    def __call__(self, frame_bgr: np.ndarray | None, frame_index: int = 0) -> list[Detection]:
        frame = check_frame(frame_bgr)
        image, ratio, (left, top) = letterbox(frame, self.input_size)
        blob = image[:, :, ::-1].transpose(2, 0, 1)[None].astype(self.input_type) / 255.0
        output = self.session.run(None, {self.input_name: np.ascontiguousarray(blob)})[0]
        boxes, scores = decode_yolo(output, self.class_index, self.score_threshold, self.nms_iou)
        boxes = (boxes - np.array([left, top, left, top])) / ratio
        return to_detections(clip_boxes(boxes, frame.shape[1], frame.shape[0]), scores)


def letterbox_corner(
    image: np.ndarray, size: tuple[int, int], pad: int = PAD_VALUE
) -> tuple[np.ndarray, float]:
    """Resize keeping the aspect ratio into the top-left of a `size` (w, h) canvas of `pad`, as
    mmdeploy's YOLOX pipeline (and rtmlib) do: an input point p maps to p * ratio."""
    height, width = image.shape[:2]
    ratio = min(size[0] / width, size[1] / height)
    new_w, new_h = int(width * ratio), int(height * ratio)
    canvas = np.full((size[1], size[0], 3), pad, dtype=np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return canvas, ratio


class YoloxEnd2EndDetector:
    """Persons from an mmdeploy end-to-end YOLOX (the zoo's zip, or a bare .onnx).

    Input 1×3×H×W float32 BGR, the frame resized keeping its aspect and padded bottom/right with 114,
    no normalisation. Outputs `dets` (1, N, 5: x1 y1 x2 y2 score in input pixels, NMS already done)
    and `labels` (1, N; person = 0).
    """

    @classmethod
    def from_zoo(cls, entry: ZooEntry, path: Path, device: str = "auto", **options) -> "YoloxEnd2EndDetector":
        return cls(path, input_size=entry.input_size or (640, 640), **options)

    def __init__(
        self,
        path: str | Path,
        score_threshold: float = 0.3,
        input_size: tuple[int, int] = (640, 640),
        providers: list[str] | None = None,
    ):
        import onnxruntime as ort

        from core.zoo import read_onnx_from_zip

        path = Path(path).expanduser()
        if not path.is_file():
            raise UserError(f"ONNX detector file not found: {path}")
        model = read_onnx_from_zip(path)[0] if path.suffix == ".zip" else str(path)
        available = ort.get_available_providers()
        chosen = providers or [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        try:
            self.session = ort.InferenceSession(model, providers=chosen)
        except Exception as error:
            raise UserError(f"cannot load ONNX model {path}: {one_line(error)}") from None
        inp = self.session.get_inputs()[0]
        outputs = [o.name for o in self.session.get_outputs()]
        if len(inp.shape) != 4 or not {"dets", "labels"} <= set(outputs):
            raise UserError(f"{path}: not an end-to-end YOLOX (input {inp.shape}, outputs {outputs})")
        h, w = inp.shape[2], inp.shape[3]
        self.input_name = inp.name
        self.input_size = (
            w if isinstance(w, int) else input_size[0],
            h if isinstance(h, int) else input_size[1],
        )
        self.score_threshold = score_threshold

    def __call__(self, frame_bgr: np.ndarray | None, frame_index: int = 0) -> list[Detection]:
        frame = check_frame(frame_bgr)
        image, ratio = letterbox_corner(frame, self.input_size)
        blob = np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)
        dets, labels = self.session.run(["dets", "labels"], {self.input_name: blob})
        dets, labels = np.asarray(dets, np.float64).reshape(-1, 5), np.asarray(labels).reshape(-1)
        keep = (labels == 0) & (dets[:, 4] >= self.score_threshold)
        boxes = dets[keep, :4] / ratio
        return to_detections(clip_boxes(boxes, frame.shape[1], frame.shape[0]), dets[keep, 4])
