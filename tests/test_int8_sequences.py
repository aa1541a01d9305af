"""int8 on a dynamic-sequence model whose calibration samples differ in length (issue 15, class 3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import edgekit
from edgekit.compiler.sensitivity import channel_error


class TinyEncoder(torch.nn.Module):
    """One attention block over [batch, tokens, 16] and a mean-pooled 4-way classifier."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.qkv = torch.nn.Linear(16, 48)
        self.proj = torch.nn.Linear(16, 16)
        self.norm = torch.nn.LayerNorm(16)
        self.head = torch.nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        att = torch.softmax(q @ k.transpose(1, 2) / 4.0, dim=-1)
        h = self.norm(x + self.proj(att @ v))
        return self.head(h.mean(dim=1))


def _folder(root: Path, lengths: list[int], seed: int) -> Path:
    root.mkdir()
    rng = np.random.default_rng(seed)
    for i, n in enumerate(lengths):
        np.save(root / f"{i:03d}.npy", rng.normal(size=(1, n, 16)).astype(np.float32))
    return root


def test_channel_error_scores_samples_of_different_lengths() -> None:
    rng = np.random.default_rng(0)
    ref = [rng.normal(size=(1, n, 8)) for n in (12, 13, 20)]
    assert channel_error(ref, [r.copy() for r in ref]) == 0.0
    noisy = [r + 0.1 * rng.normal(size=r.shape) for r in ref]
    assert 0.001 < channel_error(ref, noisy) < 0.05


def test_int8_with_variable_length_calibration(tmp_path) -> None:
    calib = _folder(tmp_path / "calib", [12, 13, 20, 7, 31, 16, 9, 24] * 4, 1)
    evals = _folder(tmp_path / "eval", [11, 13, 17, 29, 8, 21], 2)
    art = edgekit.compile(TinyEncoder().eval(), (torch.zeros(1, 12, 16),), dynamic=["x:0", "x:1"],
                          precision="int8", calibration=calib, eval_data=evals, out=tmp_path / "enc.edgekit")
    q = art.manifest["quantization"]
    assert q["calibration"]["samples"] == 32
    assert len(q["quantized_nodes"]) >= 3
    assert q["layer_errors"] and all(np.isfinite(e["output_error"]) for e in q["layer_errors"])
