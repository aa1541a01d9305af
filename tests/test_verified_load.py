"""Verify and run the same bytes; manifests that are links, aliases, too deep or too large (issue 12)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgekit
from edgekit.bundle import read_bundle
from edgekit.errors import BundleError
from edgekit.parity.golden import GOLDEN_FILE, load_golden
from edgekit.signing import generate_key, sign

TAMPER_OFFSET = 1000.0


@pytest.fixture()
def signed(digits_bundle: Path, tmp_path: Path) -> tuple[Path, Path]:
    bundle = tmp_path / "signed.edgekit"
    shutil.copytree(digits_bundle, bundle)
    pub = generate_key(tmp_path / "release.key")
    sign(read_bundle(bundle), tmp_path / "release.key")
    return bundle, pub


def _tampered_model(model: Path, out: Path) -> None:
    """The same graph with TAMPER_OFFSET added to every output: distinguishable when it runs."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(str(model))
    for i, output in enumerate(m.graph.output):
        inner = f"{output.name}__untampered"
        for node in m.graph.node:
            node.output[:] = [inner if o == output.name else o for o in node.output]
        m.graph.initializer.append(numpy_helper.from_array(np.array(TAMPER_OFFSET, np.float32), f"tamper_{i}"))
        m.graph.node.append(helper.make_node("Add", [inner, f"tamper_{i}"], [output.name]))
    onnx.save(m, str(out))


def _golden_feed(bundle: Path) -> dict[str, np.ndarray]:
    b = read_bundle(bundle)
    pairs = load_golden(b.file(GOLDEN_FILE), [s.name for s in b.inputs], [s.name for s in b.outputs])
    return pairs[0][0].feed


WRITER = """
import os, sys
model, good, bad = sys.argv[1:4]
blobs = [open(good, 'rb').read(), open(bad, 'rb').read()]
k = 0
while True:  # whole files swapped in by rename, as fast as possible, until killed
    k += 1
    tmp = f"{model}.swap{k % 2}"
    with open(tmp, 'wb') as fh:
        fh.write(blobs[k % 2])
    os.replace(tmp, model)
"""


def test_a_writer_racing_load_never_gets_an_unsigned_model_run(signed, tmp_path) -> None:
    bundle, pub = signed
    model = read_bundle(bundle).target_file("cpu", "model")
    good, bad = tmp_path / "good.onnx", tmp_path / "bad.onnx"
    shutil.copy(model, good)
    _tampered_model(model, bad)
    feed = _golden_feed(bundle)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(model), str(good), str(bad)])
    ran = refused = 0
    try:
        for _ in range(100):
            try:
                rt = edgekit.load(bundle, verify_key=pub)
            except BundleError:
                refused += 1
                continue
            out = next(iter(rt.run(feed).values()))
            assert float(np.abs(out).max()) < TAMPER_OFFSET / 2, f"an unsigned model ran (load {ran + refused})"
            ran += 1
    finally:
        writer.kill()
        writer.wait()
    assert ran + refused == 100
    shutil.copy(good, model)
    assert edgekit.load(bundle, verify_key=pub).selfcheck().passed


def test_load_runs_a_private_copy_that_writers_cannot_reach(signed) -> None:
    bundle, pub = signed
    rt = edgekit.load(bundle, verify_key=pub)
    copy = rt.bundle.path
    assert copy != bundle.resolve() and rt.bundle.origin == bundle.resolve()
    assert oct(copy.stat().st_mode & 0o777) == "0o700"
    model = read_bundle(bundle).target_file("cpu", "model")
    feed = _golden_feed(bundle)
    _tampered_model(model, model)  # after load: the runtime keeps the verified bytes
    assert float(np.abs(next(iter(rt.run(feed).values()))).max()) < TAMPER_OFFSET / 2
    assert rt.selfcheck().passed
    del rt
    import gc

    gc.collect()
    assert not copy.exists(), "the private copy is removed with its runtime"


def test_signature_is_checked_before_any_file_is_hashed(signed) -> None:
    bundle, pub = signed
    manifest = json.loads((bundle / "manifest.json").read_text())
    model = read_bundle(bundle).target_file("cpu", "model")
    rel = model.relative_to(bundle).as_posix()
    manifest["files"][rel]["size"] = 3 * 2**30
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with open(model, "r+b") as fh:
        fh.truncate(3 * 2**30)  # sparse: no disk used, but hashing it would read 3 GiB
    with pytest.raises(BundleError, match="does not verify"):
        edgekit.load(bundle, verify_key=pub)


def _edit(bundle: Path, change) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    change(manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def _alias(m: dict) -> None:
    m["files"]["././parity.md"] = m["files"].pop("parity.md")


def _long_component(m: dict) -> None:
    m["files"]["a" * 300] = {"sha256": "0" * 64, "size": 1}


def _deep_path(m: dict) -> None:
    m["files"]["/".join(["d"] * 3000)] = {"sha256": "0" * 64, "size": 1}


@pytest.mark.parametrize("change, needle", [
    (lambda m: m.update(schema_version=1.0), "schema version"),
    (lambda m: m.update(schema_version=True), "schema version"),
    (_alias, "unsafe path"),
    (_long_component, "too long"),
    (_deep_path, "too long or too deep"),
])
def test_manifest_values_that_only_look_right_are_refused(bundle_copy_path, change, needle) -> None:
    _edit(bundle_copy_path, change)
    for reader in (read_bundle, edgekit.load):
        with pytest.raises(BundleError, match=needle):
            reader(bundle_copy_path)


@pytest.mark.parametrize("text, needle", [
    ("[" * 100_000 + "]" * 100_000, "nests deeper"),
    ('{"schema_version": ' + "9" * 5000 + "}", "integer of 5000 digits"),
    ('{"a": NaN}', "not valid JSON"),
])
def test_hostile_json_in_manifest_and_signature_is_one_clear_error(signed, text, needle) -> None:
    bundle, pub = signed
    (bundle / "signature.json").write_text(text)
    with pytest.raises(BundleError, match=needle):
        edgekit.load(bundle, verify_key=pub)
    (bundle / "manifest.json").write_text(text)
    with pytest.raises(BundleError, match=needle):
        read_bundle(bundle)


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_linked_manifest_is_refused(bundle_copy_path, tmp_path, link) -> None:
    manifest = bundle_copy_path / "manifest.json"
    elsewhere = tmp_path / "elsewhere.json"
    shutil.move(manifest, elsewhere)
    (os.symlink if link == "symlink" else os.link)(elsewhere, manifest)
    for reader in (read_bundle, edgekit.load):
        with pytest.raises(BundleError, match="link"):
            reader(bundle_copy_path)


@pytest.fixture()
def bundle_copy_path(digits_bundle: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy.edgekit"
    shutil.copytree(digits_bundle, copy)
    return copy
