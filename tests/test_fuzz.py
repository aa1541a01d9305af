"""Property-based and corpus fuzzing: every case ends in success or an EdgekitError, never
another exception type, never a dead process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import edgekit
from edgekit.bundle import read_bundle
from edgekit.cli import main
from edgekit.errors import EdgekitError, InputError
from tests.conftest import ROOT

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


@pytest.fixture(scope="module")
def fuzz_bundle(digits_bundle, tmp_path_factory) -> tuple[Path, dict]:
    dst = tmp_path_factory.mktemp("fuzz") / "f.edgekit"
    shutil.copytree(digits_bundle, dst)
    return dst, json.loads((dst / "manifest.json").read_text())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_manifests(fuzz_bundle, data) -> None:
    path, original = fuzz_bundle
    manifest = json.loads(json.dumps(original))
    paths = [p for p in _paths(manifest) if p]
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(paths))
        parent = manifest
        try:
            for key in where[:-1]:
                parent = parent[key]
            if data.draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(where[-1], None)
            else:
                parent[where[-1]] = data.draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue
    (path / "manifest.json").write_text(json.dumps(manifest))
    try:
        rt = edgekit.load(read_bundle(path))
        rt.selfcheck(raise_on_failure=False)
    except EdgekitError:
        pass
    finally:
        (path / "manifest.json").write_text(json.dumps(original))


arrays = st.one_of(
    st.builds(lambda shape, dtype: np.zeros(shape, dtype),
              st.lists(st.integers(0, 9), min_size=0, max_size=5).map(tuple),
              st.sampled_from(["float32", "float64", "int64", "uint8", "bool", "float16", ">f4", "<f4"])),
    st.lists(st.floats(allow_nan=True), max_size=5),
    st.text(max_size=5), st.none(), st.integers(),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(feed=st.dictionaries(st.sampled_from(["image", "x", "", "image "]) | st.text(max_size=6), arrays, max_size=3))
def test_random_input_dicts(digits_bundle, feed) -> None:
    rt = _runtime(digits_bundle)
    try:
        out = rt.run(feed)
        assert set(out) == {"output"}
    except InputError:
        pass


_RUNTIMES: dict[str, edgekit.Runtime] = {}


def _runtime(path: Path) -> edgekit.Runtime:
    if str(path) not in _RUNTIMES:
        _RUNTIMES[str(path)] = edgekit.load(path)
    return _RUNTIMES[str(path)]


tokens = st.sampled_from([
    "--input", "--dynamic", "--target", "--precision", "--calib", "--eval", "--out", "--weights", "--json",
    "--force", "--seed", "--calib-samples", "--preprocess", "--opset", "--max-accuracy-drop", "x:1x3", "x:0",
    "cpu", "intel-cpu", "int8", "fp16", "abc", "-1", "0", ":", "::", "x:1x0", "a.edgekit", "nvidia-gpu",
    "-5", "nan", "inf", "--time-budget", "--threads", "--report", "--junit", "--output", "/proc/x.json",
    "/sys/x.edgekit", "n" * 300, "x:99999999999999999999x4", "x:100000000000x4", "--allow-pickle",
]) | st.text(max_size=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(["compile", "check", "run", "inspect", "targets", "pack", "sign", "bench", "bogus"]),
       args=st.lists(tokens, max_size=6))
@example(command="check", args=["\x00"])  # found by this test: click's os.stat raised on a NUL byte
@example(command="compile", args=["--seed", "-5"])
@example(command="bench", args=["a.edgekit", "--time-budget", "nan"])
@example(command="bench", args=["a.edgekit", "--threads", "-1"])
@example(command="compile", args=["--input", "x:99999999999999999999x4"])
def test_random_cli_arguments(command, args, capsys) -> None:
    # A model that does not exist keeps compile from doing real work; the point is argument handling.
    argv = [command, *(["no/such/model.onnx"] if command in ("compile", "bench") else []), *args]
    if command == "compile" and "--out" not in args:
        argv += ["--out", "/nonexistent-dir/m.edgekit"]
    code = main(argv)
    err = capsys.readouterr().err
    assert code in (0, 2, 4), (argv, code, err)
    assert "Traceback" not in err


def _corpus(tmp: Path) -> list[Path]:
    import onnx
    import torch

    from examples.zoo import make_mlp

    module, example, _ = make_mlp()
    good = tmp / "good.onnx"
    torch.onnx.export(module, example, str(good), dynamo=False, input_names=["x"])
    data = good.read_bytes()
    rng = np.random.default_rng(0)
    files = []

    def add(name: str, payload: bytes) -> None:
        files.append(tmp / name)
        files[-1].write_bytes(payload)

    for cut in (0, 1, 16, len(data) // 3, len(data) // 2, len(data) - 7):
        add(f"truncated-{cut}.onnx", data[:cut])
    for i in range(24):
        flipped = bytearray(data)
        for pos in rng.integers(0, len(data), size=1 + i % 4):
            flipped[pos] ^= 1 << int(rng.integers(0, 8))
        add(f"bitflip-{i}.onnx", bytes(flipped))
    add("random.onnx", rng.bytes(4096))
    for version in (1, 99):
        model = onnx.load(str(good))
        model.opset_import[0].version = version
        add(f"opset-{version}.onnx", model.SerializeToString())
    model = onnx.load(str(good))
    del model.graph.initializer[0]
    add("missing-initializer.onnx", model.SerializeToString())
    model = onnx.load(str(good))
    model.graph.node[0].input[0] = "nowhere"
    add("dangling-input.onnx", model.SerializeToString())
    model = onnx.load(str(good))
    model.graph.node[0].op_type = "NoSuchOp"
    add("unknown-op.onnx", model.SerializeToString())
    model = onnx.load(str(good))  # issue 12: an input declared [1, 10^12]
    for dim in model.graph.input[0].type.tensor_type.shape.dim:
        dim.dim_value = 10**12
    add("huge-input.onnx", model.SerializeToString())
    model = onnx.load(str(good))  # issue 12: a graph without inputs
    del model.graph.input[:]
    add("no-inputs.onnx", model.SerializeToString())
    return files


def test_corrupted_onnx_corpus_in_a_subprocess(tmp_path) -> None:
    files = _corpus(tmp_path)
    script = f"""
import sys, edgekit
from pathlib import Path
for f in {[str(f) for f in files]!r}:
    try:
        edgekit.compile(f, out=Path(f).with_suffix('.edgekit'), force=True)
        print('ok', f)
    except edgekit.EdgekitError as err:
        print('edgekit-error', type(err).__name__, f)
    except Exception as err:
        print('OTHER', type(err).__name__, f, str(err)[:200])
    sys.stdout.flush()
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=900)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:], lines[-3:])
    assert len(lines) == len(files), lines
    others = [ln for ln in lines if ln.startswith("OTHER")]
    assert not others, others
    outcomes = {ln.split()[0] for ln in lines}
    assert "edgekit-error" in outcomes
    print(f"corpus: {len(files)} files, {sum(ln.startswith('ok') for ln in lines)} compiled, "
          f"{sum(ln.startswith('edgekit-error') for ln in lines)} refused with an EdgekitError")


# -- issue 12: one fuzz test per remaining surface (fixed seeds via hypothesis' database-free runs) --
@pytest.fixture(scope="module")
def signed_fuzz_bundle(digits_bundle, tmp_path_factory) -> tuple[Path, Path, bytes]:
    from edgekit.signing import generate_key, sign

    tmp = tmp_path_factory.mktemp("signed-fuzz")
    dst = tmp / "s.edgekit"
    shutil.copytree(digits_bundle, dst)
    pub = generate_key(tmp / "k")
    sign(read_bundle(dst), tmp / "k")
    return dst, pub, (dst / "signature.json").read_bytes()


def _mutate_bytes(data: bytes, draw) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "nest"]))
        pos = draw(st.integers(0, max(len(out) - 1, 0)))
        if op == "flip" and out:
            out[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del out[pos:pos + draw(st.integers(1, 64))]
        elif op == "insert":
            out[pos:pos] = draw(st.binary(max_size=16))
        else:
            depth = draw(st.sampled_from([10, 100, 10_000]))
            out[pos:pos] = b"[" * depth + b"]" * depth
    return bytes(out)


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_signatures_and_raw_manifests(signed_fuzz_bundle, data) -> None:
    path, pub, signature = signed_fuzz_bundle
    manifest = (path / "manifest.json").read_bytes()
    target = data.draw(st.sampled_from(["signature.json", "manifest.json"]))
    original = signature if target == "signature.json" else manifest
    (path / target).write_bytes(_mutate_bytes(original, data.draw))
    try:
        edgekit.load(path, verify_key=pub)
    except EdgekitError:
        pass
    finally:
        (path / target).write_bytes(original)


@pytest.fixture(scope="module")
def fuzz_archive(digits_bundle, tmp_path_factory) -> bytes:
    from edgekit.archive import pack

    return pack(digits_bundle, tmp_path_factory.mktemp("zip-fuzz") / "a.edgekit.zip").read_bytes()


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_archives(fuzz_archive, tmp_path_factory, data) -> None:
    tmp = tmp_path_factory.mktemp("zip-case")
    path = tmp / "m.edgekit.zip"
    path.write_bytes(_mutate_bytes(fuzz_archive, data.draw))
    from edgekit.archive import unpack

    try:
        rt = edgekit.load(unpack(path, cache_dir=tmp / "cache"))
        rt.selfcheck(raise_on_failure=False)
    except EdgekitError:
        pass
    shutil.rmtree(tmp, ignore_errors=True)


def _npy_bytes(shape: tuple[int, ...], descr: str) -> bytes:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue() + b"\0" * 32


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.lists(st.integers(0, 10**13), max_size=3).map(tuple),
       descr=st.sampled_from(["<f4", "|O", "<i8", "|b1", "<f2", "V8"]),
       kind=st.sampled_from(["npy", "npz", "npz-deflated"]), data=st.data())
def test_forged_npy_and_npz_inputs(tmp_path_factory, shape, descr, kind, data) -> None:
    import zipfile

    from edgekit.safeio import load_npy, load_npz

    tmp = tmp_path_factory.mktemp("npy-case")
    payload = _mutate_bytes(_npy_bytes(shape, descr), data.draw) if data.draw(st.booleans()) \
        else _npy_bytes(shape, descr)
    path = tmp / f"x.{kind[:3]}"
    if kind == "npy":
        path.write_bytes(payload)
    else:
        method = zipfile.ZIP_DEFLATED if kind == "npz-deflated" else zipfile.ZIP_STORED
        with zipfile.ZipFile(path, "w", method) as archive:
            archive.writestr("x.npy", payload)
    try:
        (load_npy if kind == "npy" else load_npz)(path, "fuzz input")
    except EdgekitError:
        pass
    shutil.rmtree(tmp, ignore_errors=True)
