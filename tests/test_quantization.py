"""fp16, int8 and int8-dynamic on real data and real models; calibration hygiene; the fallback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import edgekit
from edgekit.errors import InputError
from examples.digits.model import hostile, pretrained
from examples.zoo import make_transformer
from tests.conftest import ROOT, run_cli

WEIGHTS = ROOT / "examples" / "digits" / "weights.safetensors"


def _digits(precision: str, out: Path, data: dict[str, Path], **kwargs):
    return edgekit.compile(pretrained(), (torch.zeros(1, 1, 8, 8),), dynamic=["image:0"], precision=precision,
                           eval_data=data["test"], out=out, **kwargs)


def test_digits_int8_via_cli_keeps_accuracy(tmp_path, digits_data) -> None:
    out = tmp_path / "int8.edgekit"
    proc = run_cli("compile", "examples.digits.model:create", "--weights", str(WEIGHTS), "--dynamic", "image:0",
                   "--precision", "int8", "--calib", str(digits_data["train"]), "--eval", str(digits_data["test"]),
                   "--target", "cpu,intel-cpu", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    q = manifest["quantization"]
    assert q["precision"] == "int8" and q["calibration"]["method"] == "minmax"
    assert q["calibration"]["samples"] == 128 and len(q["calibration"]["data_sha256"]) == 64
    assert len(q["quantized_nodes"]) == 4 and q["float_nodes"] == []
    reports = json.loads((out / "parity.json").read_text())["reports"]
    for name in ("cpu", "intel-cpu"):
        assert reports[name]["accuracy"]["drop"] <= 1.0
        assert reports[name]["passed"]
    ov = next(t for t in manifest["targets"] if t["name"] == "intel-cpu")
    assert {"i8", "u8"} & set(ov["execution"]["Convolution"]), ov["execution"]  # really int8 on the CPU
    for t in manifest["targets"]:
        assert t["speed"]["fp32_ms"] > 0 and t["speed"]["ms"] > 0
    # The golden check on the device uses the int8 rule.
    assert run_cli("check", str(out)).returncode == 0


def test_digits_fp16_passes_its_rule(tmp_path, digits_data) -> None:
    art = _digits("fp16", tmp_path / "fp16.edgekit", digits_data)
    assert art.parity.passed
    assert art.parity.rule.min_cosine == 0.999 and art.parity.outputs[0].min_cosine >= 0.999
    import onnx

    model = onnx.load(str(art.path / "model.onnx"))
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # fp32 I/O kept


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_calibration_methods(method: str, tmp_path, digits_data) -> None:
    art = _digits("int8", tmp_path / f"{method}.edgekit", digits_data, calibration=digits_data["train"],
                  calib_method=method, calib_samples=64)
    q = art.manifest["quantization"]
    assert q["calibration"]["method"] == method and q["calibration"]["samples"] == 64
    assert art.parity.accuracy.drop <= 1.0, art.parity.summary()


def _digit_arrays(data: dict[str, Path], n: int) -> tuple[np.ndarray, np.ndarray]:
    with np.load(data["train"]) as archive:
        return archive["image"][:n], archive["labels"][:n]


def test_data_source_forms(tmp_path, digits_data) -> None:
    images, _ = _digit_arrays(digits_data, 48)
    folder = tmp_path / "npy"
    folder.mkdir()
    for i, img in enumerate(images):
        np.save(folder / f"{i:03d}.npy", img)
    (tmp_path / "calibmod.py").write_text(
        "import numpy as np\n"
        f"IMAGES = np.load({str(digits_data['train'])!r})['image'][:48]\n"
        "def samples():\n"
        "    for img in IMAGES:\n"
        "        yield {'image': img}\n"
    )
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        forms = {
            "npy folder": folder,
            "callable": "calibmod:samples",
            "iterable": [{"image": img[None]} for img in images],
        }
        hashes = set()
        for name, data in forms.items():
            art = _digits("int8", tmp_path / f"{name.replace(' ', '_')}.edgekit", digits_data, calibration=data)
            q = art.manifest["quantization"]["calibration"]
            assert q["samples"] == 48, name
            hashes.add(q["data_sha256"])
            assert art.parity.passed, (name, art.parity.failures)
        assert len(hashes) == 1  # the same 48 samples, whatever the form
    finally:
        sys.path.remove(str(tmp_path))


def test_image_folder_with_preprocessing(tmp_path, digits_data) -> None:
    from PIL import Image

    images, _ = _digit_arrays(digits_data, 40)
    folder = tmp_path / "images" / "class_a"
    folder.mkdir(parents=True)
    for i, img in enumerate(images):
        pixels = np.pad(np.round(img[0] * 16).astype(np.uint8), 1)  # digits are 0..16; a 1-pixel frame
        Image.fromarray(pixels, mode="L").save(folder / f"{i:02d}.png")
    spec = "crop=8,color=GRAY,scale=1/16,layout=NCHW"
    art = _digits("int8", tmp_path / "img.edgekit", digits_data, calibration=tmp_path / "images",
                  preprocess=spec)
    q = art.manifest["quantization"]["calibration"]
    assert q["samples"] == 40 and "image folder" in q["data"]
    assert art.parity.passed
    from edgekit.data import open_data

    first, _ = next(iter(open_data(tmp_path / "images", spec)))
    np.testing.assert_allclose(first[""], images[0], atol=1e-6)


def test_int8_needs_calibration_unless_random_is_asked_for(tmp_path, digits_data) -> None:
    with pytest.raises(InputError, match="--calib"):
        _digits("int8", tmp_path / "none.edgekit", digits_data)
    assert not (tmp_path / "none.edgekit").exists()
    art = _digits("int8", tmp_path / "rnd.edgekit", digits_data, random_calibration=True)
    manifest_text = (art.path / "manifest.json").read_text()
    assert manifest_text.splitlines()[1].strip().startswith('"warning": "WARNING: int8 was calibrated on RANDOM')
    assert (art.path / "parity.md").read_text().splitlines()[0].startswith("> **WARNING: int8 was calibrated on RANDOM")
    assert art.manifest["quantization"]["calibration"]["random"] is True


def test_calibration_on_eval_samples_is_flagged(tmp_path, digits_data) -> None:
    art = _digits("int8", tmp_path / "same.edgekit", digits_data, calibration=digits_data["test"])
    assert any("also calibration samples" in n for n in art.parity.notes)
    clean = _digits("int8", tmp_path / "clean.edgekit", digits_data, calibration=digits_data["train"])
    assert not any("also calibration samples" in n for n in clean.parity.notes)


def test_few_calibration_samples_warn(tmp_path, digits_data) -> None:
    lines: list[str] = []
    art = _digits("int8", tmp_path / "few.edgekit", digits_data, calibration=digits_data["train"],
                  calib_samples=8, log=lines.append)
    assert any("only 8 calibration samples" in ln for ln in lines)
    assert any("only 8 calibration samples" in n for n in art.manifest["quantization"]["notes"])


def test_mismatched_calibration_rejected_before_any_work(tmp_path) -> None:
    bad = tmp_path / "calib.npz"
    np.savez(bad, image=np.zeros((16, 1, 9, 9), np.float32))
    proc = run_cli("compile", "examples.digits.model:create", "--weights", str(WEIGHTS), "--input", "image:1x1x8x8",
                   "--precision", "int8", "--calib", str(bad), "--out", str(tmp_path / "m.edgekit"))
    assert proc.returncode == 2
    assert "calib.npz" in proc.stderr and "expected image: float32[1,1,8,8]" in proc.stderr
    assert "exporting" not in proc.stderr  # refused before the export started
    wrong_name = tmp_path / "calib2.npz"
    np.savez(wrong_name, pixels=np.zeros((16, 1, 8, 8), np.float32))
    proc = run_cli("compile", "examples.digits.model:create", "--weights", str(WEIGHTS), "--input", "image:1x1x8x8",
                   "--precision", "int8", "--calib", str(wrong_name), "--out", str(tmp_path / "m.edgekit"))
    assert proc.returncode == 2 and "no array for input(s) image" in proc.stderr


def test_hostile_model_fails_plain_int8_and_passes_with_fallback(tmp_path, digits_data) -> None:
    model = hostile()
    kwargs = dict(dynamic=["image:0"], precision="int8", calibration=digits_data["train"],
                  eval_data=digits_data["test"])
    plain = edgekit.compile(model, (torch.zeros(1, 1, 8, 8),), out=tmp_path / "plain.edgekit", fallback=False,
                            **kwargs)
    assert not plain.parity.passed and plain.parity.accuracy.drop > 10
    fixed = edgekit.compile(model, (torch.zeros(1, 1, 8, 8),), out=tmp_path / "fixed.edgekit", **kwargs)
    assert fixed.parity.passed, fixed.parity.failures
    q = fixed.manifest["quantization"]
    assert q["fallback_nodes"] and len(q["fallback_nodes"]) <= 2
    # The nodes left in float are the classifier side of the wide channel, and the report names them.
    note = next(n for n in fixed.parity.notes if "fallback left" in n)
    for node in q["fallback_nodes"]:
        assert node in note and node not in q["quantized_nodes"]
    assert "parity before: failed" in note and "after: passed" in note
    assert q["history"][0]["passed"] is False and q["history"][-1]["passed"] is True


def test_transformer_int8_dynamic_passes(tmp_path) -> None:
    module, example, dynamic = make_transformer()
    art = edgekit.compile(module, example, dynamic=dynamic, precision="int8-dynamic", out=tmp_path / "t.edgekit")
    assert art.parity.passed, art.parity.failures
    q = art.manifest["quantization"]
    assert len(q["quantized_nodes"]) >= 8  # attention and feed-forward matmuls
    assert art.path.joinpath("model.onnx").stat().st_size < 0.6 * _fp32_size(module, example, dynamic, tmp_path)


def _fp32_size(module, example, dynamic, tmp_path: Path) -> int:
    art = edgekit.compile(module, example, dynamic=dynamic, out=tmp_path / "t32.edgekit")
    return art.path.joinpath("model.onnx").stat().st_size


def test_int8_that_quantizes_nothing_says_so(tmp_path) -> None:
    """Control flow: the compute sits in If subgraphs, which the quantizer leaves in float."""

    class Branches(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = torch.nn.Linear(8, 8), torch.nn.Linear(8, 8)

        def forward(self, x):
            return torch.cond(x.sum() > 0, lambda t: self.a(t), lambda t: self.b(t), (x,))

    path = tmp_path / "branches.onnx"
    torch.onnx.export(Branches().eval(), (torch.randn(3, 8),), str(path), dynamo=True, input_names=["x"])
    art = edgekit.compile(path, precision="int8", random_calibration=True, out=tmp_path / "b.edgekit")
    assert art.manifest["quantization"]["quantized_nodes"] == []
    assert any("quantized no node" in n for n in art.parity.notes)
