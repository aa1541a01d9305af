"""--target auto / --precision auto: measured choice, never a candidate that failed parity."""

from __future__ import annotations

import json

from edgekit.auto import candidate_precisions, choose, margin
from edgekit.native import unsupported_reason
from tests.conftest import ROOT, run_cli

WEIGHTS = ROOT / "examples" / "digits" / "weights.safetensors"


def _row(target: str, precision: str, parity: str, p50: float) -> dict:
    return {"target": target, "precision": precision, "parity": parity, "p50_ms": p50}


def test_choose_never_takes_a_failing_candidate_even_when_fastest() -> None:
    rows = [_row("cpu", "fp32", "pass", 10.0), _row("cpu", "int8", "FAIL", 2.0),
            _row("intel-cpu", "int8", "pass", 4.0), _row("intel-cpu", "fp32", "pass", 9.0)]
    winner, why = choose(rows)
    assert (winner["target"], winner["precision"]) == ("intel-cpu", "int8")
    assert "faster but failed parity: cpu int8" in why
    assert choose([_row("cpu", "int8", "FAIL", 1.0)]) == (None, "no candidate passed parity")


def test_int8_is_a_candidate_only_with_calibration() -> None:
    assert "int8" not in candidate_precisions("auto", has_calibration=False)
    assert "int8" in candidate_precisions("auto", has_calibration=True)
    assert candidate_precisions("fp16", has_calibration=False) == ["fp16"]


def test_bf16_is_a_candidate_exactly_where_the_cpu_computes_it() -> None:
    assert ("bf16" in candidate_precisions("auto", has_calibration=False)) == (unsupported_reason("bf16") is None)


def test_auto_builds_measures_and_ships_the_winner(tmp_path, digits_data) -> None:
    out = tmp_path / "auto.edgekit"
    proc = run_cli("compile", "examples.digits.model:create", "--weights", str(WEIGHTS), "--dynamic", "image:0",
                   "--input", "image:1x1x8x8", "--target", "auto", "--precision", "auto",
                   "--calib", str(digits_data["train"]), "--eval", str(digits_data["test"]), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    selection = manifest["selection"]
    measured = [c for c in selection["candidates"] if c.get("p50_ms") is not None]
    native = {"bf16"} if unsupported_reason("bf16") is None else set()
    assert {c["precision"] for c in measured} == {"fp32", "fp16", "int8-dynamic", "int8"} | native
    assert {c["target"] for c in measured} == {"cpu", "intel-cpu"}
    winner = selection["winner"]
    assert [t["name"] for t in manifest["targets"]] == [winner["target"]]
    assert manifest["precision"] == winner["precision"] and manifest["parity"]["passed"]
    best = min((c for c in measured if c["parity"] == "pass"), key=lambda c: c["p50_ms"])
    chosen = next(c for c in measured if (c["target"], c["precision"]) == (winner["target"], winner["precision"]))
    assert chosen["auto"] == "winner" and all(c.get("auto") for c in measured)
    if chosen is not best:  # only a simpler candidate within the measured noise, and 5 %, may displace the fastest
        assert chosen["p50_ci_ms"] is not None and best["p50_ci_ms"] is not None
        assert chosen["p50_ms"] - best["p50_ms"] <= margin(chosen, best) <= 0.05 * best["p50_ms"]
        assert "within noise" in selection["why"]
    else:
        assert "fastest candidate that passed parity" in selection["why"]
