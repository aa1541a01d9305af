"""Recipe search before node fallback (issue 15, class 5): ranked on the calibration set,
checked on eval, recorded; never ends on a result worse than one seen."""

from __future__ import annotations

import numpy as np
import torch

import edgekit
from edgekit.compiler import calibcache
from edgekit.compiler.options import QuantConfig
from edgekit.compiler.recipes import candidates, default_score
from examples.digits.model import pretrained


def test_outlier_calibration_searches_recipes_and_never_ends_worse(tmp_path, digits_data) -> None:
    """One calibration pixel at 300 (a sensor glitch) stretches every activation range of the
    digits CNN until the digits vanish. The search ranks recipes on the calibration data (keeping
    the first and last layers in float, or NNCF's outlier-resistant statistics, rank best), checks
    the best on eval, records the table, and the kept result is never worse than the first."""
    with np.load(digits_data["train"]) as d:
        images = d["image"][:64].copy()
    images[5, 0, 3, 3] = 300.0
    calib = tmp_path / "calib.npz"
    np.savez(calib, image=images)
    calibcache.clear()
    art = edgekit.compile(pretrained(), (torch.zeros(1, 1, 8, 8),), dynamic=["image:0"], precision="int8",
                          calibration=calib, eval_data=digits_data["test"], out=tmp_path / "o.edgekit")
    q = art.manifest["quantization"]
    table = q["recipes"]
    assert table[0]["recipe"].startswith("as configured") and table[0]["eval_passed"] is False
    assert len(table) >= 6 and all(r["calib_error"] is not None or r["error"] for r in table)
    winner = next(r for r in table if r["recipe"] == q["recipe_search_winner"])
    assert winner["calib_error"] < table[0]["calib_error"] and winner["eval_passed"] is not None
    assert "first and last" in winner["recipe"] or "NNCF" in winner["recipe"], winner
    assert q["recipe"] in [r["recipe"] for r in table]
    first = q["history"][0]
    assert first["passed"] is False
    kept = min(m.mean_cosine for m in art.parity.outputs)
    assert kept >= first["mean_cosine"] and kept > 0.5, (kept, first)
    assert any(n.startswith("recipe search tried") for n in art.parity.notes)
    # Calibration once per method (compiler/calibcache): the minmax recipes, qguard retries and
    # fallback rounds all reuse the first calibration; percentile and entropy add one each at most.
    assert calibcache.STATS.calibrations <= 3 and calibcache.STATS.reuses >= 3, calibcache.STATS


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
