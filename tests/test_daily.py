"""Day-to-day fixes (issue 16): honest numbers, messages, config, user tolerances, bundle size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, run_cli

# --- wrong numbers ------------------------------------------------------------------------------

_PEAK = ("import numpy as np; from edgekit.peakmem import peak_rss_mb; "
         "extra = np.ones({n} // 8) if {n} else None; print(peak_rss_mb())")


def _child_peak(extra_bytes: int) -> float:
    proc = subprocess.run([sys.executable, "-c", _PEAK.format(n=extra_bytes)], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    return float(proc.stdout.strip())


def test_peak_rss_is_the_childs_own_not_the_parents() -> None:
    """A child that allocates 200 MB more reports about 200 MB more, and a big parent does not leak
    its own peak into its children's figures (ru_maxrss does, across fork+exec)."""
    parent_ballast = np.ones(300_000_000 // 8)  # this process now holds 300 MB more than its children need
    base = _child_peak(0)
    bigger = _child_peak(200_000_000)
    assert base < 200, base  # a plain python+numpy child, not the 300+ MB parent
    assert 150 < bigger - base < 260, (base, bigger)
    del parent_ballast


def _row(target: str, precision: str, p50: float, p90: float, parity: str = "pass") -> dict:
    return {"target": target, "precision": precision, "parity": parity, "p50_ms": p50, "p90_ms": p90}


def test_auto_winner_must_beat_the_simpler_candidate_by_more_than_the_spread() -> None:
    from edgekit.compile.auto import choose

    # int8-dynamic 0.019 vs fp32 0.025 ms, but the spread (p90-p50) is 0.01 ms: noise, fp32 wins.
    rows = [_row("cpu", "int8-dynamic", 0.019, 0.029), _row("cpu", "fp32", 0.025, 0.030),
            _row("intel-cpu", "fp32", 0.024, 0.026)]
    winner, why = choose(rows)
    assert (winner["target"], winner["precision"]) == ("cpu", "fp32")
    assert "within noise" in why and "int8-dynamic" in why
    assert rows[0]["auto"].startswith("within noise") and rows[1]["auto"] == "winner"
    # Clearly faster (gap 0.1 ms > spread 0.01 ms): the complex candidate earns its place.
    rows = [_row("cpu", "fp32", 0.2, 0.21), _row("cpu", "int8", 0.1, 0.11), _row("cpu", "fp16", 0.5, 0.6, "FAIL")]
    winner, why = choose(rows)
    assert winner["precision"] == "int8" and why.startswith("fastest candidate")
    assert "more than the spread" in rows[0]["auto"] and rows[2]["auto"] == "failed parity"


def test_load_prefers_the_target_measured_fastest_on_this_host_class() -> None:
    from edgekit.runtimes.choice import host_class, order_targets

    here = host_class()
    host = {"cpu": here[0], "machine": here[1], "isa": list(here[2])}
    manifest = {"precision": "fp32", "build_host": host,
                "targets": [{"name": "cpu", "speed": {"ms": 0.02}}, {"name": "intel-cpu", "speed": {"ms": 0.04}}]}
    order, why = order_targets(manifest, ["intel-cpu", "cpu"])
    assert order == ["cpu", "intel-cpu"] and "measured fastest" in why and "cpu 0.02 ms" in why
    other = {**manifest, "build_host": {**host, "isa": ["sse4_2"] if here[2] != ("sse4_2",) else ["avx"]}}
    order, why = order_targets(other, ["intel-cpu", "cpu"])
    assert order == ["intel-cpu", "cpu"] and "no speed records for this host class" in why


@pytest.fixture(scope="module")
def two_target_bundle(tmp_path_factory: pytest.TempPathFactory, digits_data: dict[str, Path]) -> Path:
    out = tmp_path_factory.mktemp("daily") / "two.edgekit"
    proc = run_cli("compile", "examples.digits.model:create", "--weights",
                   str(ROOT / "examples" / "digits" / "weights.safetensors"), "--input", "image:1x1x8x8",
                   "--dynamic", "image:0", "--target", "cpu,intel-cpu", "--eval", str(digits_data["test"]),
                   "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


def test_load_and_inspect_say_which_target_and_why(two_target_bundle: Path) -> None:
    import edgekit
    from edgekit.runtimes.choice import measured_latency

    manifest = json.loads((two_target_bundle / "manifest.json").read_text())
    ms = measured_latency(manifest)
    assert set(ms) == {"cpu", "intel-cpu"} and all(t["speed"]["batch"] == 1 for t in manifest["targets"])
    rt = edgekit.load(two_target_bundle)
    assert rt.target == min(ms, key=ms.__getitem__) and "measured fastest" in rt.target_reason
    assert edgekit.load(two_target_bundle, "intel-cpu").target_reason == "asked for"
    proc = run_cli("inspect", str(two_target_bundle))
    assert proc.returncode == 0, proc.stderr
    assert f"loads      {rt.target}: measured fastest" in proc.stdout
