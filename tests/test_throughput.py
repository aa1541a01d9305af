"""Throughput mode: run_many returns, in order, what run returns, on every CPU target; bench reports it."""

from __future__ import annotations

import json

import numpy as np
import pytest

import edgekit
from edgekit.targets import get_target
from tests.conftest import run_cli

TARGETS = ["cpu", *(["intel-cpu"] if get_target("intel-cpu").probe() is None else [])]


@pytest.fixture(scope="module")
def cpu_bundle(tmp_path_factory, digits_data):
    import torch

    from examples.digits.model import pretrained

    out = tmp_path_factory.mktemp("thru") / "digits.edgekit"
    return edgekit.compile(pretrained(), (torch.zeros(1, 1, 8, 8),), target=",".join(TARGETS),
                           dynamic=["image:0"], eval_data=digits_data["test"], out=out).path


@pytest.mark.parametrize("target", TARGETS)
def test_run_many_equals_run_in_order(cpu_bundle, digits_data, target) -> None:
    images = np.load(digits_data["test"])["image"][:40]
    # Different sizes and contents, so that any reordering or mixing of results shows.
    feeds = [{"image": images[i: i + 1 + i % 4]} for i in range(0, 36, 3)]
    rt = edgekit.load(cpu_bundle, target=target, mode="throughput")
    assert rt.mode == "throughput"
    serial = [rt.run(f) for f in feeds]
    many = rt.run_many(feeds)
    assert len(many) == len(feeds)
    for one, got in zip(serial, many):
        assert one.keys() == got.keys()
        for name in one:
            assert got[name].shape == one[name].shape
            np.testing.assert_allclose(got[name], one[name], rtol=1e-5, atol=1e-5)
    with pytest.raises(edgekit.InputError, match="image"):
        rt.run_many([feeds[0], {"image": images[:2, :, :4]}])  # a bad feed is named, not run
    rt.close()
    latency = edgekit.load(cpu_bundle, target=target)  # the default mode has run_many too
    np.testing.assert_allclose(latency.run_many(feeds[:3])[2][rt.output_names[0]], serial[2][rt.output_names[0]],
                               rtol=1e-5, atol=1e-5)
    latency.close()


def test_unknown_mode_is_an_input_error(cpu_bundle) -> None:
    with pytest.raises(edgekit.InputError, match="unknown mode"):
        edgekit.load(cpu_bundle, target="cpu", mode="fastest")


def test_bench_throughput_mode_json_has_the_fields(cpu_bundle) -> None:
    proc = run_cli("bench", str(cpu_bundle), "--mode", "throughput", "--time-budget", "0.6", "--iterations", "20",
                   "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["rows"]
    assert {r["target"] for r in rows} == set(TARGETS)
    for row in rows:
        assert row["mode"] == "throughput"
        assert row["throughput_batch1_per_s"] > 0 and row["best_batch_per_s"] >= row["throughput_batch1_per_s"]
        assert row["best_batch"] in (1, 2, 4, 8, 16, 32)
        assert row["throughput_per_s"] == row["best_batch_per_s"] and row["batch"] == row["best_batch"]


@pytest.mark.skipif("intel-cpu" not in TARGETS, reason="openvino is not installed")
def test_openvino_load_run_many_close_cycles_never_hang(cpu_bundle) -> None:
    """The deadlock class that keeps AsyncInferQueue out: with a Python callback on its requests,
    load -> run_many -> close hung in ~CompiledModel on the second cycle (OpenVINO 2026.4.1).
    In a child process with a deadline, so that a hang fails the test instead of the suite."""
    import subprocess
    import sys

    code = (
        "import numpy as np, edgekit\n"
        "x = np.random.default_rng(0).standard_normal((9, 1, 8, 8)).astype(np.float32)\n"
        "feeds = [{'image': x[i: i + 1 + i % 3]} for i in range(7)]\n"
        "for _ in range(3):\n"
        f"    rt = edgekit.load({str(cpu_bundle)!r}, target='intel-cpu', mode='throughput')\n"
        "    serial = [rt.run(f) for f in feeds]\n"
        "    many = rt.run_many(feeds * 3)\n"
        "    assert all(np.allclose(m[k], s[k], atol=1e-5) for m, s in zip(many, serial * 3) for k in s)\n"
        "    rt.close()\n"
        "print('cycles done')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0 and "cycles done" in proc.stdout, proc.stderr[-2000:]
