"""edgekit bench: one row per target x precision, in every format, with real measurements."""

from __future__ import annotations

import csv
import json

from tests.conftest import ROOT, run_cli

WEIGHTS = ROOT / "examples" / "digits" / "weights.safetensors"


def test_bench_bundle_formats(digits_bundle, tmp_path) -> None:
    proc = run_cli("bench", str(digits_bundle), "--against", "examples.digits.model:create", "--weights",
                   str(WEIGHTS), "--time-budget", "0.5", "--iterations", "50", "--json",
                   "--csv", str(tmp_path / "t.csv"), "--plot", str(tmp_path / "t.png"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["torch_eager_p50_ms"] > 0
    [row] = doc["rows"]
    assert row["target"] == "cpu" and row["precision"] == "fp32" and row["parity"] == "pass"
    assert 0 < row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"]
    assert row["throughput_per_s"] > 0 and row["batch"] == 8 and row["peak_rss_mb"] > 10
    assert row["speedup_vs_torch"] > 0 and "accuracy" in row["key_metric"]
    with open(tmp_path / "t.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1 and float(rows[0]["p50_ms"]) > 0
    assert (tmp_path / "t.png").stat().st_size > 5000
    text = run_cli("bench", str(digits_bundle), "--time-budget", "0.3", "--iterations", "20")
    assert text.returncode == 0 and "p50 ms" in text.stdout and "cpu" in text.stdout


def test_bench_model_builds_each_precision_and_target(tmp_path) -> None:
    proc = run_cli("bench", "examples.digits.model:create", "--weights", str(WEIGHTS), "--input", "image:1x1x8x8",
                   "--dynamic", "image:0", "--targets", "cpu,intel-cpu", "--precisions", "fp32,int8-dynamic",
                   "--time-budget", "0.3", "--iterations", "20", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["rows"]
    assert {(r["target"], r["precision"]) for r in rows} == {
        ("cpu", "fp32"), ("intel-cpu", "fp32"), ("cpu", "int8-dynamic"), ("intel-cpu", "int8-dynamic")}
    assert all(r["speedup_vs_torch"] for r in rows)


def test_bench_bad_options(digits_bundle) -> None:
    proc = run_cli("bench", str(digits_bundle), "--batch", "0")
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")
