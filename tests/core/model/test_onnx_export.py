"""ONNX export: dynamic batch axis and agreement with PyTorch through onnxruntime."""

import numpy as np
import onnx
import onnxruntime as ort
import torch

from core.model.hrnet import build_model
from core.model.onnx_export import INPUT_NAME, OUTPUT_NAME, PARITY_TOLERANCE, export_onnx
from tests.support.reference_hrnet import randomize_weights

torch.set_num_threads(2)
SMALL = (64, 96)


def test_export_has_a_dynamic_batch_and_matches_pytorch(tmp_path):
    model = randomize_weights(build_model(width=32, preset="paper", input_size=SMALL), seed=7).eval()
    for module in model.attention.values():  # attention really in the path (gamma 0 would hide it)
        module.gamma.data.fill_(1.0)
    path = tmp_path / "model.onnx"
    parity = export_onnx(model, path)
    assert parity is not None and parity.max_rel <= PARITY_TOLERANCE
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # written atomically, nothing else

    graph = onnx.load(str(path)).graph
    batch_dim = graph.input[0].type.tensor_type.shape.dim[0]
    assert graph.input[0].name == INPUT_NAME and batch_dim.dim_param and not batch_dim.dim_value

    # Independently of export_onnx's own check: another batch size, fresh inputs.
    x = torch.randn(3, 3, SMALL[1], SMALL[0], generator=torch.Generator().manual_seed(11))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0]
    with torch.no_grad():
        want = model(x).numpy()
    assert got.shape == want.shape == (3, 17, SMALL[1] // 4, SMALL[0] // 4)
    assert np.abs(want).max() > 1
    assert np.abs(got - want).max() / np.abs(want).max() <= 1e-4
