"""A loopback HTTP server for the model-zoo tests (127.0.0.1, a random port; never another host),
registry entries that point at it, and generated files in every registry format.

The server serves named byte strings, honours `Range: bytes=N-` with 206 (unless told not to), and
can misbehave on purpose: cut a body short, stall mid-body (for a time, or until the test says), or
answer 404. It counts requests and
keeps the Range and Authorization headers it saw, so tests can prove a cache hit made no request, a
retry resumed, and a mirror's credentials were sent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import threading
import time
import zipfile
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

from core.model.hrnet import build_model
from core.zoo import ZooEntry


@dataclass
class Behaviour:
    truncate_times: int = 0  # this many responses stop after half the body (the connection closes)
    stall_seconds: float = 0.0  # after the first half of the body, sleep this long
    hold: threading.Event | None = None  # after the first half of the body, wait (at most 120 s) for this
    ranges: bool = True  # honour Range requests with 206
    status: int = 200  # e.g. 404


@dataclass
class ServerState:
    files: dict[str, bytes] = field(default_factory=dict)
    behaviour: dict[str, Behaviour] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)
    authorizations: list[str | None] = field(default_factory=list)  # each request's Authorization header


class _Handler(http.server.BaseHTTPRequestHandler):
    state: ServerState

    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:
        name = self.path.lstrip("/")
        state = self.state
        state.requests.append((name, self.headers.get("Range")))
        state.authorizations.append(self.headers.get("Authorization"))
        rule = state.behaviour.get(name, Behaviour())
        body = state.files.get(name)
        if body is None or rule.status != 200:
            self.send_error(404 if body is None else rule.status)
            return
        start = 0
        range_header = self.headers.get("Range")
        if rule.ranges and range_header and range_header.startswith("bytes="):
            start = int(range_header[len("bytes=") :].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        part = body[start:]
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        half = len(part) // 2
        if rule.truncate_times > 0:
            rule.truncate_times -= 1
            self.wfile.write(part[:half])
            self.wfile.flush()
            self.close_connection = True
            return
        if rule.stall_seconds or rule.hold is not None:
            self.wfile.write(part[:half])
            self.wfile.flush()
            time.sleep(rule.stall_seconds)
            if rule.hold is not None:
                rule.hold.wait(120)
            part = part[half:]
        self.wfile.write(part)


class WeightsServer:
    def __init__(self) -> None:
        self.state = ServerState()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def serve(self, name: str, body: bytes, **behaviour) -> str:
        self.state.files[name] = body
        self.state.behaviour[name] = Behaviour(**behaviour)
        return f"{self.base}/{name}"

    def count(self, name: str) -> int:
        return sum(1 for path, _ in self.state.requests if path == name)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def weights_server(monkeypatch):
    """A loopback server, downloads allowed (the suite forbids them by default), no proxies."""
    monkeypatch.delenv("POSE_OFFLINE", raising=False)
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    server = WeightsServer()
    yield server
    server.close()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def registered(monkeypatch, server: WeightsServer, entry: ZooEntry, body: bytes, **behaviour) -> ZooEntry:
    """`entry` served by `server` and put into the registry for this test."""
    from core.zoo import REGISTRY

    url = server.serve(entry.file_name, body, **behaviour)
    entry = dataclasses.replace(entry, url=url)
    monkeypatch.setitem(REGISTRY, entry.name, entry)
    return entry


def pose_entry(name: str, body: bytes, fmt: str = "mmpose-1.x", **changes) -> ZooEntry:
    """A pose entry for a generated file, its published digest prefix taken from the file itself."""
    values = dict(
        name=name,
        kind="pose",
        url=f"http://127.0.0.1:9/{name}-{sha256(body)[:8]}_20240101.pth",
        format=fmt,
        licence="test",
        source="generated",
        note="generated by the tests",
        sha256_prefix=sha256(body)[:8],
        width=8,
        input_size=(64, 96),
        decode="argmax",
    )
    values.update(changes)
    return ZooEntry(**values)


def detector_entry(name: str, **changes) -> ZooEntry:
    values = dict(
        name=name,
        kind="detector",
        url=f"http://127.0.0.1:9/{name}.zip",
        format="yolox-onnx-zip",
        licence="test",
        source="generated",
        note="generated by the tests",
        input_size=(64, 64),
        architecture="YOLOX-test",
    )
    values.update(changes)
    return ZooEntry(**values)


# ---- generated files in each registry format -----------------------------------------------------


def tiny_model(seed: int = 0):
    torch.manual_seed(seed)
    return build_model(width=8, input_size=(64, 96)).eval()


def pose_file_bytes(model, fmt: str) -> bytes:
    """`model`'s weights saved as mmpose 1.x, mmpose 0.x or an official HRNet file."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    if fmt == "official":
        payload = state
    else:
        head = "head." if fmt == "mmpose-1.x" else "keypoint_head."
        renamed = {
            (head + k if k.startswith("final_layer.") else "backbone." + k): v for k, v in state.items()
        }
        meta = {"epoch": 210, "mmpose_version": "1.0.0" if fmt == "mmpose-1.x" else "0.29.0"}
        if fmt == "mmpose-1.x":  # 1.x keeps dataset metadata with numpy arrays in `meta`
            meta["dataset_meta"] = {"sigmas": np.full(17, 0.05, np.float32), "flip_indices": list(range(17))}
        payload = {"meta": meta, "state_dict": renamed}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def yolox_onnx_bytes(size: tuple[int, int] = (64, 64)) -> bytes:
    """A tiny end-to-end 'YOLOX': two fixed boxes (labels person, then another class) whose score is
    the maximum of input channel 0 (blue, 0-255) / 255, times 1.0 and 0.5. So it proves the input is
    BGR and not normalised: a blue frame scores 1.0, a red one only the 114 padding (0.447)."""
    import onnx
    from onnx import TensorProto, helper

    w, h = size
    boxes = np.array([[[8, 16, 40, 56], [0, 0, 10, 10]]], np.float32)
    nodes = [
        helper.make_node("Slice", ["input", "zero", "one", "axis1"], ["blue"]),
        helper.make_node("ReduceMax", ["blue"], ["peak"], keepdims=0),
        helper.make_node("Div", ["peak", "scale"], ["unit"]),
        helper.make_node("Mul", ["unit", "weights"], ["scores"]),
        helper.make_node("Concat", ["boxes", "scores"], ["dets"], axis=2),
        helper.make_node("Identity", ["label_values"], ["labels"]),
    ]
    inits = [
        helper.make_tensor("zero", TensorProto.INT64, [1], [0]),
        helper.make_tensor("one", TensorProto.INT64, [1], [1]),
        helper.make_tensor("axis1", TensorProto.INT64, [1], [1]),
        helper.make_tensor("scale", TensorProto.FLOAT, [], [255.0]),
        helper.make_tensor("weights", TensorProto.FLOAT, [1, 2, 1], [1.0, 0.5]),
        helper.make_tensor("boxes", TensorProto.FLOAT, [1, 2, 4], boxes.ravel().tolist()),
        helper.make_tensor("label_values", TensorProto.INT64, [1, 2], [0, 1]),
    ]
    graph = helper.make_graph(
        nodes,
        "yolox_end2end_test",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, h, w])],
        [
            helper.make_tensor_value_info("dets", TensorProto.FLOAT, [1, 2, 5]),
            helper.make_tensor_value_info("labels", TensorProto.INT64, [1, 2]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def yolox_zip_bytes() -> bytes:
    """The mmdeploy SDK layout rtmlib downloads: a folder with end2end.onnx and its JSON files."""
    folder = "yolox_test_8xb8-300e_humanart"
    return zipped(
        {
            f"{folder}/end2end.onnx": yolox_onnx_bytes(),
            f"{folder}/deploy.json": b"{}",
            f"{folder}/pipeline.json": b"{}",
        }
    )
