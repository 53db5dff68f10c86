"""Box geometry in one place: format conversions, IoU, non-maximum suppression and validation.

Boxes are float arrays of shape (N, 4). `xyxy` is (x1, y1, x2, y2) in image pixels, the format every
stage exchanges; `xywh` is MOTChallenge's and COCO's (left, top, width, height); `xyah` is the Kalman
filter's (centre x, centre y, width / height, height).
"""

import numpy as np

from core.errors import UserError


def as_boxes(boxes, name: str = "boxes") -> np.ndarray:
    """(N, 4) float64 view of `boxes`; an empty input gives shape (0, 4)."""
    try:
        array = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError):
        raise UserError(f"{name} must be numbers: an (N, 4) array of x1, y1, x2, y2") from None
    if array.size == 0:
        return np.zeros((0, 4))
    if array.ndim == 1 and array.shape[0] == 4:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != 4:
        raise UserError(f"{name} must have shape (N, 4), got {array.shape}")
    return array


def valid_boxes(boxes, positive_area: bool = True) -> np.ndarray:
    """Per box: finite coordinates in x1, y1, x2, y2 order, with positive area (or, without
    `positive_area`, zero width or height allowed: a crop around such a box is still defined)."""
    b = as_boxes(boxes)
    if positive_area:
        ordered = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
    else:
        ordered = (b[:, 2] >= b[:, 0]) & (b[:, 3] >= b[:, 1])
    return np.isfinite(b).all(1) & ordered


def validate_boxes(boxes, name: str = "boxes", positive_area: bool = True) -> np.ndarray:
    """The (N, 4) xyxy array, or a UserError naming the first box valid_boxes() refuses."""
    array = as_boxes(boxes, name)
    bad = np.flatnonzero(~valid_boxes(array, positive_area))
    if bad.size:
        i = int(bad[0])
        if not np.isfinite(array[i]).all():
            raise UserError(f"{name}[{i}] = {array[i].tolist()} has NaN or infinite coordinates")
        op = ">" if positive_area else ">="
        order = f"x2 {op} x1 and y2 {op} y1 (x1, y1, x2, y2 order)"
        raise UserError(f"{name}[{i}] = {array[i].tolist()} needs {order}")
    return array


def xywh_to_xyxy(boxes) -> np.ndarray:
    b = as_boxes(boxes).copy()
    b[:, 2:] += b[:, :2]
    return b


def xyxy_to_xywh(boxes) -> np.ndarray:
    b = as_boxes(boxes).copy()
    b[:, 2:] -= b[:, :2]
    return b


def xyxy_to_xyah(boxes) -> np.ndarray:
    b = as_boxes(boxes)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, w / h, h], axis=1)


def xyah_to_xyxy(xyah) -> np.ndarray:
    s = as_boxes(xyah)
    h = s[:, 3]
    w = s[:, 2] * h
    return np.stack([s[:, 0] - w / 2, s[:, 1] - h / 2, s[:, 0] + w / 2, s[:, 1] + h / 2], axis=1)


def areas(boxes) -> np.ndarray:
    b = as_boxes(boxes)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def iou_matrix(a, b) -> np.ndarray:
    """(len(a), len(b)) intersection over union of xyxy boxes; 0 where a union is empty."""
    a, b = as_boxes(a), as_boxes(b)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = areas(a)[:, None] + areas(b)[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def nms(boxes, scores, iou_threshold: float = 0.5) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, highest score first."""
    b = as_boxes(boxes)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    keep = []
    while order.size:
        best, order = order[0], order[1:]
        keep.append(best)
        if order.size:
            order = order[iou_matrix(b[best], b[order])[0] <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def clip_boxes(boxes, width: int, height: int) -> np.ndarray:
    b = as_boxes(boxes).copy()
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, width)
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, height)
    return b
