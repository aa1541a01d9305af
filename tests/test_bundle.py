"""The bundle format: hashes checked on load, tampering and truncation refused, unsafe paths refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import edgekit
from edgekit.bundle import read_bundle
from edgekit.errors import BundleError, TargetUnavailable


@pytest.fixture
def bundle_copy(digits_bundle: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy.edgekit"
    shutil.copytree(digits_bundle, dst)
    return dst


def _manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def _write_manifest(path: Path, manifest: dict) -> None:
    (path / "manifest.json").write_text(json.dumps(manifest))


def test_manifest_records_what_design_requires(digits_bundle: Path) -> None:
    m = _manifest(digits_bundle)
    for key in ("schema_version", "edgekit_version", "source", "signature", "targets", "precision",
                "parity", "files", "build_host", "toolchain", "quantization"):
        assert key in m
    assert m["source"]["sha256"] and m["source"]["exporter"] in ("dynamo", "torchscript")
    assert set(m["files"]) == {"model.onnx", "cpu/model.onnx", "golden.npz", "parity.json", "parity.md", "parity.html"}
    assert m["build_host"]["isa"] and m["build_host"]["libraries"]["onnxruntime"]
    assert m["targets"][0]["backend_version"]
    assert m["parity"]["passed"] is True


def test_flipped_byte_is_refused(bundle_copy: Path) -> None:
    model = bundle_copy / "cpu" / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256"):
        edgekit.load(bundle_copy)


def test_truncated_file_is_refused(bundle_copy: Path) -> None:
    model = bundle_copy / "model.onnx"
    model.write_bytes(model.read_bytes()[:100])
    with pytest.raises(BundleError, match="truncated"):
        edgekit.load(bundle_copy)


def test_missing_file_is_refused(bundle_copy: Path) -> None:
    (bundle_copy / "golden.npz").unlink()
    with pytest.raises(BundleError, match="missing"):
        edgekit.load(bundle_copy)


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda m: m.update(schema_version=99), "schema version 99"),
        (lambda m: m.pop("signature"), "lacks field"),
        (lambda m: m["files"].update({"../evil": {"sha256": "0" * 64, "size": 1}}), "unsafe path"),
        (lambda m: m["files"].update({"/etc/passwd": {"sha256": "0" * 64, "size": 1}}), "unsafe path"),
        (lambda m: m.update(files=[]), "malformed"),
    ],
)
def test_bad_manifest_is_refused(bundle_copy: Path, mutate, needle: str) -> None:
    manifest = _manifest(bundle_copy)
    mutate(manifest)
    _write_manifest(bundle_copy, manifest)
    with pytest.raises(BundleError, match=needle):
        read_bundle(bundle_copy)


def test_manifest_not_json_is_refused(bundle_copy: Path) -> None:
    (bundle_copy / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        edgekit.load(bundle_copy)


def test_symlink_is_refused(bundle_copy: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.onnx"
    shutil.copy(bundle_copy / "golden.npz", outside)
    (bundle_copy / "golden.npz").unlink()
    (bundle_copy / "golden.npz").symlink_to(outside)
    with pytest.raises(BundleError, match="link"):
        edgekit.load(bundle_copy)


def test_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no bundle"):
        edgekit.load(tmp_path / "nothing.edgekit")
    with pytest.raises(BundleError, match="no manifest.json"):
        edgekit.load(tmp_path)


def test_failed_bundle_is_refused_unless_accepted(bundle_copy: Path) -> None:
    from edgekit.bundle import commit_bundle

    manifest = _manifest(bundle_copy)
    manifest["parity"]["passed"] = False
    # Re-hash through the real writer so only the verdict differs.
    staging = bundle_copy.parent / "staging"
    shutil.copytree(bundle_copy, staging)
    commit_bundle(staging, bundle_copy, manifest)
    with pytest.raises(BundleError, match="failed its parity check"):
        edgekit.load(bundle_copy)
    rt = edgekit.load(bundle_copy, accept_failed=True)
    assert rt.run({"image": np.zeros((1, 1, 8, 8), np.float32)})["output"].shape == (1, 10)


def test_target_choice_is_exact(digits_bundle: Path) -> None:
    with pytest.raises(BundleError, match="has no target 'intel-cpu'"):
        edgekit.load(digits_bundle, target="intel-cpu")
    rt = edgekit.load(digits_bundle, target="cpu")
    assert rt.backend == "onnxruntime"


def test_unavailable_backend_is_not_replaced(bundle_copy: Path, monkeypatch) -> None:
    from edgekit.backends.onnxruntime import runtime as ort_runtime

    monkeypatch.setattr(ort_runtime.OnnxRuntime, "probe", staticmethod(lambda: "onnxruntime is not installed"))
    with pytest.raises(TargetUnavailable, match="cpu: onnxruntime is not installed"):
        edgekit.load(bundle_copy)


def test_bundle_is_not_private(digits_bundle: Path) -> None:
    assert digits_bundle.stat().st_mode & 0o055  # group/other may read it, as the umask allows
