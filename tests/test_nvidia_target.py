"""The nvidia-gpu target on a CPU-only host: profile derivation from --dynamic, engine keys and the
rebuild decision, the engine cache, availability probing, and the bundle layout — with the real
modules and real files, and no stand-in for TensorRT."""

from __future__ import annotations

import ctypes.util
import json
import shutil
from pathlib import Path

import pytest

import edgekit
from edgekit.backends.tensorrt.cuda import GpuInfo, slugify
from edgekit.backends.tensorrt.engine import (
    KEY_FIELDS,
    EngineCache,
    choose_engine,
    engine_file_name,
    engine_key,
    key_digest,
    rebuild_reason,
)
from edgekit.backends.tensorrt.probe import Facts, diagnose, driver_problem, probe
from edgekit.bundle import read_bundle, sha256_file
from edgekit.compiler.inputs import parse_dynamic
from edgekit.compiler.profiles import batch_limit, default_range, derive_profiles, explicit_ranges
from edgekit.errors import BundleError, InputError, TargetUnavailable
from edgekit.signature import TensorSpec
from tests.conftest import run_cli

H200 = GpuInfo("NVIDIA H200", "9.0")
A100 = GpuInfo("NVIDIA A100-SXM4-80GB", "8.0")
PROFILES = {"x": {"min": [1, 3, 32, 32], "opt": [4, 3, 32, 32], "max": [16, 3, 32, 32]}}
NO_GPU_HERE = probe() is not None


# -- --dynamic and profiles ---------------------------------------------------
@pytest.mark.parametrize("text, dim, size_range", [
    ("x:0", None, None),
    ("x:0:batch", "batch", None),
    ("x:0:1:8:32", None, (1, 8, 32)),
    ("tokens:1:seq:4:128:512", "seq", (4, 128, 512)),
    ("x:0:5:5:5", None, (5, 5, 5)),
])
def test_dynamic_with_and_without_range(text: str, dim: str | None, size_range: tuple | None) -> None:
    arg = parse_dynamic(text)
    assert (arg.dim, arg.range) == (dim, size_range)


@pytest.mark.parametrize("text, needle", [
    ("x:0:8:1:32", "1 <= MIN <= OPT <= MAX"),
    ("x:0:0:1:2", "1 <= MIN <= OPT <= MAX"),
    ("x:0:1:a:8", "three whole numbers"),
    ("x:0:1:8", "not of the form"),
    ("x:0:batch:1:8", "three whole numbers"),
    ("x:0:9seq:1:2:3", "must be an identifier"),
])
def test_bad_dynamic_ranges(text: str, needle: str) -> None:
    with pytest.raises(InputError, match=needle.replace("(", r"\(")):
        parse_dynamic(text)


def test_inputs_sharing_a_dim_share_its_range() -> None:
    specs = [TensorSpec("ids", ("batch", "seq"), "int64"), TensorSpec("mask", ("batch", "seq"), "int64"),
             TensorSpec("scale", (1,), "float32")]
    shapes = {"ids": (2, 16), "mask": (2, 16), "scale": (1,)}
    per_dim, profiles = derive_profiles(specs, shapes, explicit_ranges([parse_dynamic("ids:0:batch:1:4:8")]))
    assert per_dim == {"batch": (1, 4, 8), "seq": default_range(16)}
    assert default_range(16) == (1, 16, 32) and default_range(100) == (1, 100, 200)
    assert set(profiles) == {"ids", "mask"}  # a static input needs no profile
    assert profiles["ids"] == profiles["mask"] == {"min": [1, 1], "opt": [4, 16], "max": [8, 32]}
    assert batch_limit(specs[:2], per_dim) == 8


def test_range_must_contain_the_example_and_name_a_real_dim() -> None:
    specs = [TensorSpec("x", ("batch", 3), "float32")]
    with pytest.raises(InputError, match="outside its range 2..8"):
        derive_profiles(specs, {"x": (1, 3)}, {"batch": (2, 4, 8)})
    with pytest.raises(InputError, match="which no input has"):
        derive_profiles(specs, {"x": (1, 3)}, {"seq": (1, 2, 4)})
    with pytest.raises(InputError, match="two ranges"):
        explicit_ranges([parse_dynamic("x:0:1:2:4"), parse_dynamic("y:0:1:2:8")])
    assert derive_profiles([TensorSpec("x", (1, 3), "float32")], {"x": (1, 3)}, {}) == ({}, {})


def test_cli_range_outside_the_example_is_refused_before_building(tmp_path: Path) -> None:
    out = tmp_path / "d.edgekit"
    res = run_cli("compile", "examples.digits.model:create", "--weights", "examples/digits/weights.safetensors",
                  "--input", "image:1x1x8x8", "--dynamic", "image:0:2:4:8", "--out", str(out))
    assert res.returncode == 2, res.stderr
    assert "outside its range 2..8" in res.stderr and "Traceback" not in res.stderr
    assert not out.exists()


# -- engine keys and the rebuild decision -------------------------------------------
def _key(gpu: GpuInfo = H200, trt: str = "10.7.0", precision: str = "fp16", profiles: dict | None = None,
         onnx: str = "a" * 64) -> dict:
    return engine_key(gpu, trt, precision, PROFILES if profiles is None else profiles, onnx)


def test_key_covers_gpu_version_precision_profiles_and_onnx() -> None:
    base = _key()
    assert set(base) == set(KEY_FIELDS)
    assert key_digest(base) == key_digest(json.loads(json.dumps(base)))  # survives the manifest round trip
    variants = [_key(gpu=A100), _key(gpu=GpuInfo("NVIDIA H200", "9.1")), _key(trt="10.8.0"),
                _key(precision="int8"), _key(profiles={"x": {**PROFILES["x"], "max": [32, 3, 32, 32]}}),
                _key(onnx="b" * 64)]
    digests = {key_digest(v) for v in variants}
    assert key_digest(base) not in digests and len(digests) == len(variants)
    assert engine_file_name(base) == "nvidia-h200-trt10.7.0.plan"
    assert slugify("NVIDIA A100-SXM4-80GB") == "nvidia-a100-sxm4-80gb"


def test_rebuild_reason_names_what_differs() -> None:
    assert rebuild_reason(_key(), _key()) is None
    other_gpu = rebuild_reason(_key(gpu=A100), _key())
    assert "NVIDIA A100-SXM4-80GB (compute capability 8.0)" in other_gpu and "NVIDIA H200 (9.0)" in other_gpu
    assert "TensorRT 10.7.0, this host has 11.4.0" in rebuild_reason(_key(), _key(trt="11.4.0"))
    assert "profile shapes" in rebuild_reason(_key(profiles={}), _key())
    assert "source ONNX" in rebuild_reason(_key(onnx="c" * 64), _key())
    assert "no complete engine key" in rebuild_reason(None, _key())
    assert "no complete engine key" in rebuild_reason({"gpu": "x"}, _key())


def test_engine_comes_from_bundle_then_cache_then_build(tmp_path: Path) -> None:
    bundle_engine = tmp_path / "bundle" / engine_file_name(_key(gpu=A100))
    bundle_engine.parent.mkdir()
    bundle_engine.write_bytes(b"engine built on an A100")
    cache = EngineCache(tmp_path / "cache")

    same = choose_engine(_key(gpu=A100), bundle_engine, _key(gpu=A100), cache)
    assert (same.source, same.path, same.reason) == ("bundle", bundle_engine, None)

    first = choose_engine(_key(gpu=A100), bundle_engine, _key(), cache)
    assert first.source == "build" and "A100" in first.reason
    assert first.path.parent == cache.root and not first.path.exists()  # never into the bundle
    stored = cache.store(_key(), b"engine rebuilt on an H200")
    assert stored == first.path
    assert [p.name for p in cache.root.iterdir() if p.name.startswith(".")] == []  # no temp files left

    second = choose_engine(_key(gpu=A100), bundle_engine, _key(), cache)
    assert (second.source, second.path) == ("cache", stored)
    assert "nvidia-h200" in cache.timing_cache_path(_key()).name

    no_engine = choose_engine(None, None, _key(trt="11.0.0"), cache)
    assert no_engine.source == "build" and "no complete engine key" in no_engine.reason


def test_damaged_or_foreign_cache_entries_are_not_used(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    path = cache.store(_key(), b"an engine")
    assert cache.lookup(_key()) == path
    path.write_bytes(b"an engine, damaged")
    assert cache.lookup(_key()) is None
    path = cache.store(_key(), b"an engine")
    meta = path.with_suffix(".json")
    record = json.loads(meta.read_text())
    meta.write_text(json.dumps({**record, "key": _key(trt="9.9")}))
    assert cache.lookup(_key()) is None


# -- availability ---------------------------------------------------------------
def test_diagnosis_names_every_missing_piece() -> None:
    assert diagnose(Facts(True, True, None)) is None
    both = diagnose(Facts(False, False, "no NVIDIA driver (libcuda.so.1 not found)"))
    assert both == ("tensorrt and cuda-python are not installed (pip install 'edgekit[tensorrt]'); "
                    "no NVIDIA driver (libcuda.so.1 not found)")
    assert diagnose(Facts(True, False, None)) == "cuda-python is not installed (pip install 'edgekit[tensorrt]')"
    assert diagnose(Facts(True, True, "the NVIDIA driver sees no GPU")) == "the NVIDIA driver sees no GPU"


@pytest.mark.skipif(ctypes.util.find_library("cuda") is not None, reason="this host has an NVIDIA driver")
def test_probe_on_a_host_without_driver() -> None:
    assert "libcuda.so.1 not found" in driver_problem()
    assert "libcuda.so.1 not found" in probe()


@pytest.mark.skipif(not NO_GPU_HERE, reason="nvidia-gpu is available here")
def test_cli_says_what_is_missing_and_refuses_to_compile(tmp_path: Path) -> None:
    rows = {r["name"]: r for r in json.loads(run_cli("targets", "--json").stdout)}
    assert rows["nvidia-gpu"]["available"] is False and rows["nvidia-gpu"]["reason"] == probe()

    out = tmp_path / "g.edgekit"
    res = run_cli("compile", "examples.digits.model:create", "--weights", "examples/digits/weights.safetensors",
                  "--input", "image:1x1x8x8", "--target", "cpu,nvidia-gpu", "--out", str(out))
    assert res.returncode == 4, res.stderr
    assert res.stderr.strip().splitlines() == [f"error: target 'nvidia-gpu' is unavailable: {probe()}"]
    assert not out.exists()

    res = run_cli("compile", "examples.digits.model:create", "--input", "image:1x1x8x8",
                  "--target", "nvidia-gpu", "--precision", "int8-dynamic", "--out", str(out))
    assert res.returncode == 2 and "cannot run precision 'int8-dynamic'" in res.stderr


# -- bundle layout -------------------------------------------------------------------
def _graft_nvidia_entry(bundle: Path, key: dict) -> Path:
    """Adds an nvidia-gpu entry laid out as the target writes it (engine file, key, profiles, ONNX)."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    engine = bundle / "nvidia-gpu" / engine_file_name(key)
    engine.parent.mkdir()
    engine.write_bytes(b"a serialized engine")
    rel = engine.relative_to(bundle).as_posix()
    manifest["files"][rel] = {"sha256": sha256_file(engine), "size": engine.stat().st_size}
    manifest["targets"].append({"name": "nvidia-gpu", "backend": "tensorrt", "backend_version": key["tensorrt"],
                                "precision": manifest["precision"], "files": {"engine": rel, "onnx": "model.onnx"},
                                "engine_key": key, "profiles": key["profiles"], "strongly_typed": True})
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return engine


@pytest.mark.skipif(not NO_GPU_HERE, reason="nvidia-gpu is available here")
def test_bundle_with_an_nvidia_entry_loads_elsewhere_and_says_why_not_here(digits_bundle: Path,
                                                                          tmp_path: Path) -> None:
    bundle = tmp_path / "multi.edgekit"
    shutil.copytree(digits_bundle, bundle)
    spec = read_bundle(bundle).inputs[0]
    _, profiles = derive_profiles([spec], {spec.name: (1, 1, 8, 8)}, {})
    key = engine_key(H200, "10.7.0", "fp32", profiles, sha256_file(bundle / "model.onnx"))
    engine = _graft_nvidia_entry(bundle, key)

    read = read_bundle(bundle)  # hashes, file table and target entries all valid
    assert read.target_file("nvidia-gpu", "engine") == engine
    assert read.target_file("nvidia-gpu", "onnx") == bundle / "model.onnx"
    assert rebuild_reason(read.target("nvidia-gpu")["engine_key"], key) is None

    with edgekit.load(bundle) as rt:  # the preferred target is missing here: the next one runs
        assert rt.target == "cpu"
    with pytest.raises(TargetUnavailable, match="nvidia-gpu: .*not installed|nvidia-gpu: .*driver"):
        edgekit.load(bundle, target="nvidia-gpu")
    res = run_cli("inspect", str(bundle))
    assert res.returncode == 0 and "engine for NVIDIA H200 (compute 9.0), TensorRT 10.7.0" in res.stdout
    assert "profile image: [1..32, 1, 8, 8], tuned for [1, 1, 8, 8]" in res.stdout
    res = run_cli("check", str(bundle), "--target", "nvidia-gpu")
    assert res.returncode == 4 and "Traceback" not in res.stderr

    engine.write_bytes(b"a tampered engine!!")  # same size, other bytes: the engine is hashed like any file
    with pytest.raises(BundleError, match="sha256"):
        read_bundle(bundle)


@pytest.mark.skipif(not NO_GPU_HERE, reason="nvidia-gpu is available here")
def test_gpu_check_says_exactly_what_it_did_not_run() -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT

    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu-check")], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable}, timeout=120)
    assert res.returncode == 4, res.stderr
    lines = res.stdout.splitlines()
    assert any(line.startswith("gpu tests") and line.endswith("not run") for line in lines)
    assert any(line.startswith("latency: TensorRT") and line.endswith("not run") for line in lines)
    assert f"reason: nvidia-gpu unavailable: {probe()}" in lines


def test_optimization_level_from_the_environment(monkeypatch) -> None:
    from edgekit.backends.tensorrt.engine import OPT_LEVEL_ENV, EngineBuildError, optimization_level

    monkeypatch.delenv(OPT_LEVEL_ENV, raising=False)
    assert optimization_level() is None
    monkeypatch.setenv(OPT_LEVEL_ENV, "1")
    assert optimization_level() == 1
    for bad in ("7", "-1", "fast"):
        monkeypatch.setenv(OPT_LEVEL_ENV, bad)
        with pytest.raises(EngineBuildError, match="0 to 5"):
            optimization_level()
