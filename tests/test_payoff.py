"""int8 must pay for itself against the best float precision of its target, or say so first."""

from __future__ import annotations

import json

import torch

import edgekit
from edgekit.compiler.payoff import verdict


def test_verdict_compares_with_the_fastest_float() -> None:
    slow = verdict("int8", "cpu", 10.0, {"fp32": 9.0})
    assert slow["pays_off"] is False and slow["best_float"] == "fp32"
    assert slow["payoff_warning"].startswith("WARNING: INT8 DOES NOT PAY FOR ITSELF on cpu")
    fast = verdict("int8", "intel-cpu", 5.0, {"fp32": 9.0, "bf16": 6.0})
    assert fast["pays_off"] is True and "payoff_warning" not in fast
    # Faster than fp32 but not than bf16 (within 5%): bf16 is what to ship.
    close = verdict("int8", "intel-cpu", 5.9, {"fp32": 9.0, "bf16": 6.0})
    assert close["pays_off"] is False and close["best_float"] == "bf16" and "ship bf16" in close["payoff_warning"]


def test_int8_build_records_its_verdict_and_warns_first_when_it_does_not_pay(tmp_path, digits_data) -> None:
    from examples.digits.model import pretrained

    art = edgekit.compile(pretrained(), (torch.zeros(1, 1, 8, 8),), target="cpu", precision="int8",
                          dynamic=["image:0"], eval_data=digits_data["test"], calibration=digits_data["train"],
                          out=tmp_path / "q.edgekit")
    speed = art.manifest["targets"][0]["speed"]
    assert set(speed["floats_ms"]) == {"fp32"} and speed["floats_ms"]["fp32"] > 0
    assert isinstance(speed["pays_off"], bool)
    first_key = next(iter(json.loads((art.path / "manifest.json").read_text())))
    if speed["pays_off"]:
        assert "payoff_warning" not in speed and first_key != "warning"
    else:  # the verdict is the first thing the manifest and the report say
        assert first_key == "warning" and art.manifest["warning"] == speed["payoff_warning"]
        assert art.parity.notes[0] == speed["payoff_warning"]
