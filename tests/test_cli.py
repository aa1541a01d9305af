"""End-to-end CLI journeys: every MODEL form, check, run, inspect, targets, and error lines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from examples.zoo import SMALL_MODELS
from tests.conftest import ROOT, run_cli

WEIGHTS = ROOT / "examples" / "digits" / "weights.safetensors"


def _compile(*args: str, cwd: Path | None = None):
    return run_cli("compile", *args, cwd=cwd)


def test_factory_with_weights_eval_data_and_json(tmp_path, digits_data) -> None:
    out = tmp_path / "digits.edgekit"
    proc = _compile("examples.digits.model:create", "--weights", str(WEIGHTS), "--dynamic", "image:0",
                    "--eval", str(digits_data["test"]), "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    report = result["reports"]["cpu"]
    assert result["passed"] and report["accuracy"]["samples"] == 360
    assert report["accuracy"]["reference"] > 95 and report["accuracy"]["drop"] == 0

    check = run_cli("check", str(out), "--json")
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)["passed"]

    against = run_cli("check", str(out), "--against", "examples.digits.model:create", "--weights", str(WEIGHTS),
                      "--data", str(digits_data["test"]))
    assert against.returncode == 0, against.stderr
    assert "360 samples" in against.stdout

    x = np.load(digits_data["test"])["image"][:3]
    np.save(tmp_path / "x.npy", x)
    run = run_cli("run", str(out), "--input", f"image={tmp_path / 'x.npy'}", "--output", str(tmp_path / "y.npz"))
    assert run.returncode == 0, run.stderr
    y = np.load(tmp_path / "y.npz")["output"]
    assert y.shape == (3, 10)

    inspect = run_cli("inspect", str(out))
    assert inspect.returncode == 0, inspect.stderr
    for needle in ("image: float32[batch,1,8,8]", "onnxruntime", "PASSED", "built on", "isa"):
        assert needle in inspect.stdout


def test_torchscript_file(tmp_path) -> None:
    module, example, _ = SMALL_MODELS["cnn"]()
    path = tmp_path / "cnn.pt"
    torch.jit.trace(module, example).save(str(path))
    proc = _compile(str(path), "--input", "x:2x3x32x32", "--dynamic", "x:0", "--allow-pickle",
                    "--out", str(tmp_path / "ts.edgekit"))
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "ts.edgekit" / "manifest.json").read_text())
    assert manifest["source"]["kind"] == "torchscript"
    assert manifest["source"]["exporter"] == "torchscript"
    assert "PASSED" in proc.stdout


def test_torch_export_program(tmp_path) -> None:
    module, example, _ = SMALL_MODELS["two_in_two_out"]()
    program = torch.export.export(module, example)
    path = tmp_path / "model.pt2"
    torch.export.save(program, str(path))
    proc = _compile(str(path), "--allow-pickle", "--out", str(tmp_path / "ep.edgekit"))
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "ep.edgekit" / "manifest.json").read_text())
    assert manifest["source"]["kind"] == "torch.export"
    assert [o["name"] for o in manifest["signature"]["outputs"]] == ["output_0", "output_1"]
    assert [i["name"] for i in manifest["signature"]["inputs"]] == ["image", "meta"]


def test_onnx_file_keeps_metadata_and_checks_against_onnxruntime(tmp_path) -> None:
    import onnx

    module, example, _ = SMALL_MODELS["mlp"]()
    path = tmp_path / "mlp.onnx"
    torch.onnx.export(module, example, str(path), dynamo=False, input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}})
    model = onnx.load(str(path))
    model.metadata_props.add(key="labels", value="a,b,c,d,e")
    onnx.save(model, str(path))
    out = tmp_path / "onnx.edgekit"
    proc = _compile(str(path), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"]["kind"] == "onnx" and manifest["source"]["exporter"] is None
    assert manifest["metadata"]["labels"] == "a,b,c,d,e"
    assert onnx.load(str(out / "model.onnx")).metadata_props[0].key == "labels"
    assert manifest["signature"]["inputs"][0]["shape"] == ["n", 32]
    assert "onnxruntime fp32" in json.loads((out / "parity.json").read_text())["reports"]["cpu"]["reference"]


def test_targets_lists_cpu() -> None:
    proc = run_cli("targets", "--json")
    assert proc.returncode == 0
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["cpu"]["available"] and rows["cpu"]["version"]


def test_overwrite_needs_force(tmp_path) -> None:
    module, example, _ = SMALL_MODELS["mlp"]()
    path = tmp_path / "m.pt"
    torch.jit.trace(module, example).save(str(path))
    out = tmp_path / "m.edgekit"
    assert _compile(str(path), "--input", "x:4x32", "--allow-pickle", "--out", str(out)).returncode == 0
    first = (out / "manifest.json").read_text()
    again = _compile(str(path), "--input", "x:4x32", "--allow-pickle", "--out", str(out))
    assert again.returncode == 2 and "--force" in again.stderr
    assert (out / "manifest.json").read_text() == first
    forced = _compile(str(path), "--input", "x:4x32", "--allow-pickle", "--out", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".m.edgekit")]


def _one_line_error(proc) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    # Progress lines may come first; the error itself is one line, the last.
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert errors == [lines[-1]], proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[-1]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["no/such/model.onnx"], "does not exist"),
        (["no_such_package.mod:create"], "cannot import module"),
        (["examples.digits.model:nope", "--input", "image:1x1x8x8"], "has no attribute 'nope'"),
        (["examples.digits.model:create", "--input", "image=1x1x8x8"], "is not of the form"),
        (["examples.digits.model:create", "--input", "image:1x1x8x8:complex"], "unknown dtype"),
        (["examples.digits.model:create"], "input shapes are unknown"),
        (["examples.digits.model:create", "--input", "image:1x1x8x8", "--target", "cpx"], "did you mean 'cpu'"),
        (["examples.digits.model:create", "--input", "image:1x1x8x8", "--precision", "fp8"], "unknown precision"),
        (["examples.digits.model:create", "--input", "image:1x1x8x8", "--dynamic", "img:0"], "does not have"),
        (["examples.digits.model:create", "--input", "image:1x1x8x8", "--out", "x.zip"], "must end in '.edgekit'"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(args, needle, tmp_path) -> None:
    line = _one_line_error(_compile(*args))
    assert needle in line, line


def test_unreadable_and_unsafe_weights(tmp_path) -> None:
    garbage = tmp_path / "w.pt"
    garbage.write_bytes(b"not a checkpoint")
    line = _one_line_error(_compile("examples.digits.model:create", "--weights", str(garbage),
                                    "--input", "image:1x1x8x8", "--out", str(tmp_path / "a.edgekit")))
    assert "cannot read weights" in line

    class Evil:
        def __reduce__(self):
            return (print, ("pickled code ran",))

    unsafe = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, str(unsafe))
    proc = _compile("examples.digits.model:create", "--weights", str(unsafe), "--input", "image:1x1x8x8",
                    "--out", str(tmp_path / "b.edgekit"))
    line = _one_line_error(proc)
    assert "refused for safety" in line and "pickled code ran" not in proc.stdout

    wrong = tmp_path / "wrong.pt"
    torch.save({"foo": torch.zeros(1)}, str(wrong))
    line = _one_line_error(_compile("examples.digits.model:create", "--weights", str(wrong),
                                    "--input", "image:1x1x8x8", "--out", str(tmp_path / "c.edgekit")))
    assert "do not fit the model" in line
    assert not list(tmp_path.glob("*.edgekit"))


def test_pickled_whole_model_needs_allow_pickle(tmp_path) -> None:
    module, example, _ = SMALL_MODELS["mlp"]()
    path = tmp_path / "whole.pth"
    torch.save(module, str(path))
    line = _one_line_error(_compile(str(path), "--input", "x:4x32", "--out", str(tmp_path / "w.edgekit")))
    assert "--allow-pickle" in line
    proc = _compile(str(path), "--input", "x:4x32", "--allow-pickle", "--out", str(tmp_path / "w.edgekit"),
                    cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_eval_data_that_does_not_fit_fails_before_building(tmp_path) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, image=np.zeros((4, 1, 9, 9), np.float32))
    out = tmp_path / "d.edgekit"
    line = _one_line_error(_compile("examples.digits.model:create", "--weights", str(WEIGHTS),
                                    "--input", "image:1x1x8x8", "--eval", str(bad), "--out", str(out)))
    assert "bad.npz" in line and "expected image: float32[1,1,8,8]" in line
    assert not out.exists()


def test_export_failure_reports_both_exporters(tmp_path) -> None:
    (tmp_path / "svdmodel.py").write_text(
        "import torch\n"
        "class M(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        return torch.linalg.svd(x)[1]\n"
        "def create():\n    return M()\n"
    )
    line = _one_line_error(_compile("svdmodel:create", "--input", "x:3x3", "--out", str(tmp_path / "s.edgekit"),
                                    cwd=tmp_path))
    assert "dynamo exporter:" in line and "torchscript exporter:" in line
    assert "\x1b[" not in line
    assert not list(tmp_path.glob("*.edgekit"))


def test_falls_back_to_torchscript_when_dynamo_fails(tmp_path) -> None:
    # Data-dependent control flow: torch.export refuses it; tracing records the branch taken,
    # which is the only one any finite input reaches.
    (tmp_path / "branchy.py").write_text(
        "import torch\n"
        "class M(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        if x.abs().sum() > 1e30:\n"
        "            return x * 0\n"
        "        return torch.tanh(x) * 2\n"
        "def create():\n    return M()\n"
    )
    proc = _compile("branchy:create", "--input", "x:2x5", "--out", str(tmp_path / "b.edgekit"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "b.edgekit" / "manifest.json").read_text())
    assert manifest["source"]["exporter"] == "torchscript"
    assert manifest["source"]["attempts"][0]["exporter"] == "dynamo"
    assert manifest["source"]["attempts"][0]["error"]
    assert "torchscript exporter" in proc.stderr


def test_settings_from_pyproject(tmp_path) -> None:
    module, example, _ = SMALL_MODELS["mlp"]()
    torch.jit.trace(module, example).save(str(tmp_path / "m.pt"))
    (tmp_path / "pyproject.toml").write_text(
        '[tool.edgekit]\ntarget = "cpu"\ninput = ["x:4x32"]\nout = "fromconfig.edgekit"\nallow-pickle = true\n'
    )
    proc = _compile("m.pt", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "fromconfig.edgekit" / "manifest.json").is_file()
    (tmp_path / "pyproject.toml").write_text('[tool.edgekit]\ntargets = "cpu"\n')
    assert "unknown edgekit setting" in _one_line_error(_compile("m.pt", cwd=tmp_path))


@pytest.mark.parametrize("cmd", ["compile", "check", "run", "inspect", "targets"])
def test_help(cmd: str) -> None:
    proc = run_cli(cmd, "--help")
    assert proc.returncode == 0 and "Usage" in proc.stdout
