"""int8-dynamic for recurrent models (issue 15, class 7): the LSTM's weights are quantized
(onnxruntime's DynamicQuantizeLSTM), the graph is valid, parity passes, and whether it pays
off is measured on the target, not assumed."""

from __future__ import annotations

import numpy as np
import onnx
import torch
from torch import nn

import edgekit
from edgekit.compiler.qguard import graph_problem


class RowLSTM(nn.Module):
    """Reads the 8x8 digit as 8 rows of 8 pixels."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 32, batch_first=True)
        self.head = nn.Linear(32, 10)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(image.reshape(image.shape[0], 8, 8))
        return self.head(out[:, -1])


def _trained(train_npz) -> nn.Module:
    torch.manual_seed(0)
    with np.load(train_npz) as d:
        x, y = torch.from_numpy(d["image"]), torch.from_numpy(d["labels"])
    model = RowLSTM()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(4):
        for s in range(0, len(x), 128):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[s:s + 128]), y[s:s + 128]).backward()
            opt.step()
    return model.eval()


def test_lstm_int8_dynamic_for_cpu_is_valid_and_passes(tmp_path, digits_data) -> None:
    model = _trained(digits_data["train"])
    art = edgekit.compile(model, (torch.zeros(1, 1, 8, 8),), dynamic=["image:0"], precision="int8-dynamic",
                          target="cpu", eval_data=digits_data["test"], out=tmp_path / "lstm.edgekit")
    graph = tmp_path / "lstm.edgekit" / "model.onnx"
    assert graph_problem(graph, {"image": np.zeros((2, 1, 8, 8), np.float32)}) is None
    ops = {n.op_type for n in onnx.load(str(graph)).graph.node}
    assert "DynamicQuantizeLSTM" in ops and "LSTM" not in ops, ops
    q = art.manifest["quantization"]
    assert any("lstm" in n.lower() for n in q["quantized_nodes"]), q["quantized_nodes"]
    assert art.passed, art.parity.summary()
    speed = art.manifest["targets"][0]["speed"]
    assert "pays_off" in speed and speed["floats_ms"]["fp32"] > 0  # measured on this host, either verdict
