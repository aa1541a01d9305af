"""Reports people can read and machines can parse: schema, Markdown, HTML, JUnit, stages."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import jsonschema
import numpy as np
import pytest
import torch

import edgekit
from edgekit.parity.writer import SCHEMA_FILE
from examples.digits.model import hostile


@pytest.fixture(scope="module")
def hostile_plain(tmp_path_factory, digits_data):
    out = tmp_path_factory.mktemp("reports") / "plain.edgekit"
    junit = out.with_suffix(".xml")
    art = edgekit.compile(hostile(), (torch.zeros(1, 1, 8, 8),), dynamic=["image:0"], precision="int8",
                          calibration=digits_data["train"], eval_data=digits_data["test"], fallback=False,
                          target="cpu,intel-cpu", out=out, junit=junit)
    assert not art.passed
    return art, junit


def test_schema_is_valid_and_reports_validate(digits_bundle, hostile_plain) -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    for path in (digits_bundle, hostile_plain[0].path):
        jsonschema.validate(json.loads((path / "parity.json").read_text()), schema)


def test_junit_counts_failures(hostile_plain, digits_bundle, tmp_path) -> None:
    art, junit = hostile_plain
    root = ET.parse(junit).getroot()
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["parity cpu (int8)", "parity intel-cpu (int8)"]
    for suite in suites:
        failed = [c.get("name") for c in suite.findall("testcase") if c.find("failure") is not None]
        # mean/1st-percentile cosine, top-1, SNR, accuracy
        assert int(suite.get("failures")) == len(failed) == 4, failed
        assert any("cosine" in f for f in failed) and any("accuracy drop" in f for f in failed)
    assert int(root.get("failures")) == 8
    ok = tmp_path / "ok.xml"
    from tests.conftest import run_cli

    assert run_cli("check", str(digits_bundle), "--junit", str(ok)).returncode == 0
    ok_root = ET.parse(ok).getroot()
    assert ok_root.get("failures") == "0" and int(ok_root.get("tests")) >= 2


def test_changed_predictions_and_first_broken_stage(hostile_plain) -> None:
    art, _ = hostile_plain
    report = art.reports["cpu"]
    changed = report.accuracy.changed
    assert len(changed) == 100  # listed up to 100; the accuracy counts them all
    assert all(set(c) == {"index", "reference", "candidate", "label"} and c["reference"] != c["candidate"]
               for c in changed)
    stages = {s["stage"]: s for s in report.stages}
    assert list(stages) == ["export", "simplify", "quantize", "target cpu", "target intel-cpu"]
    assert stages["export"]["passed"] and stages["simplify"]["passed"]
    assert not stages["quantize"]["passed"] and "FIRST STAGE OVER THE BUDGET" in stages["quantize"]["detail"]
    assert "FIRST STAGE" not in stages["target cpu"]["detail"]
    assert stages["quantize"]["added_max_abs"] > 10 * max(stages["simplify"]["max_abs"], 1e-6)


def test_min_passing_tolerance_reported(digits_bundle) -> None:
    parity = json.loads((digits_bundle / "parity.json").read_text())["reports"]["cpu"]
    atol = parity["outputs"][0]["min_passing_atol"]
    assert isinstance(atol, float) and atol <= 1e-4


def test_html_is_self_contained_with_plots(hostile_plain) -> None:
    art, _ = hostile_plain
    page = (art.path / "parity.html").read_text()
    assert "parity FAILED" in page and "target cpu" in page and "target intel-cpu" in page
    for output in art.manifest["signature"]["outputs"]:
        assert f"<td>{output['name']}</td>" in page
    assert page.count("<figure class='plot'>") >= 2 * 2 + 1  # histogram + scatter per output and target; layers
    assert "per-layer error" in page
    # the stage chart draws the rule's threshold; the layer curve names its layers, the worst annotated
    floor = art.reports["cpu"].rule.min_p1_cosine
    assert f"cosine floor {floor:g}" in page
    layers = art.manifest["quantization"]["layer_errors"]
    worst = max(layers, key=lambda e: e["output_error"])["node"]
    assert worst[-27:] in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "<script" not in page and "url(http" not in page


def test_markdown_verdict_first(hostile_plain) -> None:
    text = (hostile_plain[0].path / "parity.md").read_text()
    first = next(line for line in text.splitlines() if line.startswith("## "))
    assert "FAILED" in first
    assert "| output |" in text and "| stage |" in text


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(not CHROMIUM, reason="Chromium is not installed here (apt-get install chromium)")


def _screenshot(page_uri: str, tmp_path, size: str = "1200,3000"):
    shot = tmp_path / "page.png"
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'u'}",
         f"--screenshot={shot}", f"--window-size={size}", page_uri],
        capture_output=True, text=True, timeout=120,
    )
    return shot, proc


@needs_chromium
def test_html_renders_in_headless_chromium(hostile_plain, tmp_path) -> None:
    shot, proc = _screenshot((hostile_plain[0].path / "parity.html").as_uri(), tmp_path)
    assert shot.is_file() and shot.stat().st_size > 20_000, proc.stderr[-1000:]


@needs_chromium
def test_bench_plot_renders_in_headless_chromium(digits_bundle, tmp_path) -> None:
    """The bench chart as SVG: latency per candidate with its verdict and key metric, host, batch and
    threads in the title — text a browser draws (and a test can read), not a pass/fail axis."""
    from tests.conftest import run_cli

    plot = tmp_path / "bench.svg"
    proc = run_cli("bench", str(digits_bundle), "--time-budget", "0.3",
                   "--iterations", "20", "--plot", str(plot))
    assert proc.returncode == 0, proc.stderr
    svg = plot.read_text()
    for text in (f"{digits_bundle.name} · cpu · fp32", "batch 1", "p50", "pass: accuracy"):
        assert text in svg, text
    page = tmp_path / "plot.html"
    page.write_text(f"<!doctype html><html><body>{svg[svg.index('<svg'):]}</body></html>")
    shot, proc = _screenshot(page.as_uri(), tmp_path, "1000,700")
    assert shot.is_file() and shot.stat().st_size > 10_000, proc.stderr[-1000:]


OVERFLOW = '''
import torch
from torch import nn


class Overflow(nn.Module):
    """The middle layer's outputs pass 65504, fp16's largest value; the head scales them back."""

    def __init__(self):
        super().__init__()
        self.inp, self.boost, self.head = nn.Linear(16, 32), nn.Linear(32, 32), nn.Linear(32, 4)
        with torch.no_grad():
            self.boost.weight.mul_(1e5)
            self.head.weight.div_(1e5)

    def forward(self, x):
        return self.head(torch.relu(self.boost(torch.relu(self.inp(x)))))


def create():
    torch.manual_seed(0)
    return Overflow().eval()
'''


def test_layers_names_the_layer_whose_fp16_overflows(tmp_path) -> None:
    from tests.conftest import run_cli

    (tmp_path / "overflow.py").write_text(OVERFLOW)
    out = tmp_path / "o.edgekit"
    proc = run_cli("compile", "overflow:create", "--input", "x:4x16", "--dynamic", "x:0", "--precision", "fp16",
                   "--keep-fp32", "--out", str(out), cwd=tmp_path)
    assert proc.returncode in (0, 3), proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert "reference/model.onnx" in manifest["files"]
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(out / "reference" / "model.onnx")).graph
    huge = {t.name for t in graph.initializer if np.abs(numpy_helper.to_array(t)).max() > 1000}
    boost = next(n.name for n in graph.node if n.op_type in ("Gemm", "MatMul") and set(n.input) & huge)
    layers = run_cli("check", str(out), "--layers", "--json")
    assert layers.returncode == 0, layers.stderr
    result = json.loads(layers.stdout)
    first = result["first_over_tolerance"]
    assert first is not None and first["op_type"] in ("Gemm", "MatMul")
    assert result["largest_growth"][0]["node"] == first["node"]
    assert first["node"] == boost  # the middle layer, not the head
    text = run_cli("check", str(out), "--layers").stdout
    assert f"first layer over the tolerance: {first['node']}" in text


def test_layers_without_fp32_graph_says_how_to_get_one(hostile_plain) -> None:
    from tests.conftest import run_cli

    proc = run_cli("check", str(hostile_plain[0].path), "--layers")
    assert proc.returncode == 2 and "--keep-fp32" in proc.stderr
