"""Parity metrics and rules as pure functions, and a real compile that fails parity (exit 3)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import edgekit
from edgekit.data.sources import Batch
from edgekit.errors import BundleError, ParityError
from edgekit.parity import ParityReport, rule_for
from edgekit.parity.compare import compare
from edgekit.parity.metrics import OutputAccumulator
from tests.conftest import run_cli


def _metrics(ref, cand, precision="fp32", batch=None):
    acc = OutputAccumulator("y", rule_for(precision))
    acc.add(np.asarray(ref, np.float32), np.asarray(cand, np.float32), batch)
    return acc.result()


def test_fp32_rule_uses_atol_plus_rtol() -> None:
    ref = np.array([1000.0, 0.0, 1.0])
    assert _metrics(ref, ref + [0.5, 0.0, 0.0]).passed  # 0.5 <= 1e-4 + 1e-3 * 1000
    failed = _metrics(ref, ref + [0.0, 2e-4, 0.0])
    assert not failed.passed and "1 of 3 elements" in failed.failures[0]
    assert failed.min_passing_atol == pytest.approx(2e-4, rel=1e-3)


def test_cosine_is_per_sample_and_top1_counts_argmax() -> None:
    ref = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    cand = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])  # second sample reversed
    m = _metrics(ref, cand, "int8", batch=2)
    assert m.min_cosine == pytest.approx(10 / 14)
    assert m.top1_agreement == 0.5
    assert any("top-1" in f for f in m.failures) and any("cosine" in f for f in m.failures)


def test_nonfinite_mismatch_fails_and_matching_nan_does_not() -> None:
    assert _metrics([np.nan, 1.0], [np.nan, 1.0]).passed
    assert not _metrics([0.0, 1.0], [np.inf, 1.0]).passed


def test_shape_mismatch_fails() -> None:
    acc = OutputAccumulator("y", rule_for("fp32"))
    acc.add(np.zeros((2, 3)), np.zeros((3, 2)), None)
    assert "shape" in acc.result().failures[0]


def test_accuracy_drop_and_changed_samples_and_json_round_trip() -> None:
    labels = np.array([0, 1, 1, 0])
    ref = {"logits": np.array([[2.0, 0.0], [0.0, 2.0], [0.0, 2.0], [2.0, 0.0]])}
    cand = {"logits": np.array([[2.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 0.0]])}
    batch = Batch({"x": np.zeros((4, 1))}, labels, 4)
    report = compare(lambda f: ref, lambda f: cand, [batch], ["logits"], "int8", rule_for("int8"),
                     data_description="d", reference_description="r", candidate_description="c").report
    assert report.accuracy.reference == 100.0 and report.accuracy.candidate == 75.0
    assert report.accuracy.changed == ({"index": 1, "reference": 1, "candidate": 0, "label": 1},)
    assert not report.passed and any("accuracy dropped 25.00" in f for f in report.failures)
    again = ParityReport.from_dict(json.loads(json.dumps(report.to_dict(), allow_nan=False)))
    assert again.to_dict() == report.to_dict()
    with pytest.raises(ParityError, match="accuracy dropped"):
        report.raise_for_failure()
    assert "❌ FAILED" in report.to_markdown()


BRANCHY = (
    "import torch\n"
    "class M(torch.nn.Module):\n"
    "    def forward(self, x):\n"
    "        if x.abs().max() > 100:\n"
    "            return x * 0\n"
    "        return torch.tanh(x)\n"
    "def create():\n    return M()\n"
)


def test_traced_branch_fails_parity_on_real_data(tmp_path) -> None:
    """Tracing bakes in one branch; the eval data reaches the other, and parity says so (exit 3)."""
    (tmp_path / "branchy.py").write_text(BRANCHY)
    data = np.random.default_rng(0).standard_normal((16, 5)).astype(np.float32)
    data[3] *= 1000.0
    np.savez(tmp_path / "eval.npz", x=data)
    out = tmp_path / "b.edgekit"
    proc = run_cli("compile", "branchy:create", "--input", "x:1x5", "--eval", "eval.npz", "--out", str(out),
                   cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr
    assert "failed parity" in proc.stderr and "FAILED" in proc.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parity"]["passed"] is False
    with pytest.raises(BundleError, match="failed its parity check"):
        edgekit.load(out)
    # Its golden samples hold the build-time reference, which the artifact misses too.
    rt = edgekit.load(out, accept_failed=True)
    golden_report = rt.selfcheck(raise_on_failure=False)
    assert golden_report.samples >= 1
    check = run_cli("check", str(out), "--against", "branchy:create", "--data", "eval.npz", cwd=tmp_path)
    assert check.returncode == 3 and "FAILED" in check.stdout
