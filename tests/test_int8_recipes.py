"""Recipe search before node fallback (issue 15, class 5): ranked on the calibration set,
checked on eval, recorded; never ends on a result worse than one seen."""

from __future__ import annotations

import numpy as np
import torch

import edgekit
from edgekit.compile.quantize import QuantConfig
from edgekit.compile.recipes import candidates, default_score
from examples.digits.model import pretrained


def test_outlier_calibration_is_rescued_by_the_search(tmp_path, digits_data) -> None:
    """One calibration pixel at 300 (a sensor glitch) stretches the input's int8 range until the
    digits vanish; keeping the first compute layer in float is what the search finds."""
    with np.load(digits_data["train"]) as d:
        images = d["image"][:64].copy()
    images[5, 0, 3, 3] = 300.0
    calib = tmp_path / "calib.npz"
    np.savez(calib, image=images)
    art = edgekit.compile(pretrained(), (torch.zeros(1, 1, 8, 8),), dynamic=["image:0"], precision="int8",
                          calibration=calib, eval_data=digits_data["test"], out=tmp_path / "o.edgekit")
    q = art.manifest["quantization"]
    table = q["recipes"]
    assert table[0]["recipe"].startswith("as configured") and table[0]["eval_passed"] is False
    assert len(table) >= 6 and all(r["calib_error"] is not None or r["error"] for r in table)
    winner = next(r for r in table if r["recipe"] == q["recipe"])
    assert winner["calib_error"] < table[0]["calib_error"]
    assert "first and last" in q["recipe"] and q["recipe_float_nodes"]
    assert art.parity.passed, art.parity.failures
    assert q["history"][0]["passed"] is False and q["history"][-1]["passed"] is True
    assert any(n.startswith("recipe search tried") for n in art.parity.notes)


def test_candidates_and_default_score(tmp_path) -> None:
    path = tmp_path / "d.onnx"
    torch.onnx.export(pretrained(), (torch.zeros(1, 1, 8, 8),), str(path), dynamo=False, input_names=["image"])
    names = [c.name for c in candidates(path, QuantConfig())]
    assert "percentile calibration" in names and "first and last compute layers in float" in names
    assert "minmax calibration" not in names  # the base recipe is not a candidate of itself
    rng = np.random.default_rng(0)
    ref = [{"y": rng.normal(size=(8, 10))} for _ in range(4)]
    assert default_score(ref, ref) == 0.0
    small = [{"y": r["y"] + 0.01 * rng.normal(size=(8, 10))} for r in ref]
    large = [{"y": r["y"] + 1.0 * rng.normal(size=(8, 10))} for r in ref]
    assert 0.0 < default_score(ref, small) < default_score(ref, large)
