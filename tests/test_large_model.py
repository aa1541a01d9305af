"""A model over 2 GB goes through export, compile and parity with ONNX external data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import edgekit


class Wide(nn.Module):
    """~2.2 GB of fp32 weights in one Linear, more than protobuf's 2 GiB limit."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(16384, 33000)
        self.head = nn.Linear(33000, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.proj(x)))


@pytest.mark.slow
def test_model_over_2gb_compiles_and_passes_parity(tmp_path) -> None:
    torch.manual_seed(0)
    with torch.no_grad():
        model = Wide().eval()
        model.proj.weight.mul_(0.1)
    assert sum(p.numel() * 4 for p in model.parameters()) > 2**31
    art = edgekit.compile(model, (torch.randn(1, 16384),), out=tmp_path / "wide.edgekit")
    assert art.parity.passed, art.parity.failures
    files = art.manifest["files"]
    assert "model.onnx.data" in files and files["model.onnx.data"]["size"] > 2**31
    assert any(p.startswith("cpu/") and p.endswith(".data") for p in files)
    assert files["model.onnx"]["size"] < 10_000_000
    stages = {s["stage"]: s for s in art.manifest["portable_model"]["stages"]}
    assert stages["simplify"]["applied"] is False and "2 GB" in stages["simplify"]["detail"]
    del model
    rt = edgekit.load(art.path)
    out = rt.run({"x": np.ones((1, 16384), np.float32)})["output"]
    assert out.shape == (1, 8) and np.isfinite(out).all()
    assert rt.selfcheck().passed
